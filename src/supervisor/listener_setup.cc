#include "supervisor/listener_setup.h"

#include <cstring>
#include <limits>

namespace hinetd::supervisor {

using base::Error;
using base::Result;

namespace {

// The first bytes of every setup. The build's version follows: a listener
// of another build refuses the setup rather than misread it.
constexpr std::string_view kSetupMagic = "hinetd-listener-setup 1\n";
#ifdef HINETD_VERSION
constexpr std::string_view kBuild = HINETD_VERSION;
#else
constexpr std::string_view kBuild = "unknown";
#endif

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void Raw(std::string_view s) { out_.append(s); }
  void Bool(bool v) { U8(v ? 1 : 0); }
  void U64(uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Double(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    U64(bits);
  }
  void Bytes(std::string_view s) {
    U64(s.size());
    out_.append(s);
  }
  void Time(Clock::time_point t) { I64(t.time_since_epoch().count()); }
  void Millis(std::chrono::milliseconds m) { I64(m.count()); }
  void Endpoint(const net::Endpoint& ep) {
    Bytes(std::string_view(reinterpret_cast<const char*>(&ep.addr), ep.len));
  }
  void Cidrs(const std::vector<net::Cidr>& list) {
    U64(list.size());
    for (const auto& c : list) {
      I64(c.family);
      out_.append(reinterpret_cast<const char*>(c.addr.data()), c.addr.size());
      I64(c.prefix);
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  [[nodiscard]] bool ok() const { return error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool at_end() const { return in_.empty(); }
  void Fail(const std::string& what) {
    if (error_.empty()) error_ = what;
    in_ = {};
  }

  uint8_t U8() {
    if (!Need(1, "a byte")) return 0;
    uint8_t v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return v;
  }
  bool Bool() {
    uint8_t v = U8();
    if (v > 1) Fail("a flag is neither 0 nor 1");
    return v == 1;
  }
  uint64_t U64() {
    uint64_t v = 0;
    if (!Need(sizeof v, "a number")) return 0;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  int64_t I64() { return static_cast<int64_t>(U64()); }
  // An int in [lo, hi]; `what` names it in the error.
  int Int(const char* what, int64_t lo = std::numeric_limits<int>::min(),
          int64_t hi = std::numeric_limits<int>::max()) {
    int64_t v = I64();
    if (v < lo || v > hi) {
      Fail(std::string(what) + " out of range: " + std::to_string(v));
      return 0;
    }
    return static_cast<int>(v);
  }
  // A uint32_t in [lo, hi].
  uint32_t U32(const char* what, uint32_t lo = 0, uint32_t hi = UINT32_MAX) {
    uint64_t v = U64();
    if (v < lo || v > hi) {
      Fail(std::string(what) + " out of range: " + std::to_string(v));
      return lo;
    }
    return static_cast<uint32_t>(v);
  }
  double Double() {
    uint64_t bits = U64();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  std::string_view Bytes(const char* what) {
    uint64_t n = U64();
    if (!Need(n, what)) return {};
    std::string_view v = in_.substr(0, n);
    in_.remove_prefix(n);
    return v;
  }
  // A count of items of at least `min_size` bytes each: never more than
  // what is left could hold (a corrupt count allocates nothing).
  size_t Count(const char* what, size_t min_size) {
    uint64_t n = U64();
    if (n > in_.size() / min_size) {
      Fail(std::string("a count of ") + what + " larger than the setup: " + std::to_string(n));
      return 0;
    }
    return static_cast<size_t>(n);
  }
  Clock::time_point Time() { return Clock::time_point(Clock::duration(I64())); }
  std::chrono::milliseconds Millis(const char* what) {
    int64_t v = I64();
    // Keeps every later conversion to the clock's nanoseconds in range.
    constexpr int64_t kMaxMs = int64_t{1} << 40;
    if (v < 0 || v > kMaxMs) Fail(std::string(what) + " out of range: " + std::to_string(v));
    return std::chrono::milliseconds(v);
  }
  net::Endpoint Endpoint() {
    std::string_view b = Bytes("an address");
    net::Endpoint ep;
    if (b.size() > sizeof ep.addr) {
      Fail("an address longer than a sockaddr_storage");
      return ep;
    }
    if (!b.empty()) std::memcpy(&ep.addr, b.data(), b.size());
    ep.len = static_cast<socklen_t>(b.size());
    return ep;
  }
  std::vector<net::Cidr> Cidrs() {
    std::vector<net::Cidr> out(Count("address blocks", 32));
    for (auto& c : out) {
      c.family = Int("an address family", 0, 255);
      if (Need(c.addr.size(), "an address block")) {
        std::memcpy(c.addr.data(), in_.data(), c.addr.size());
        in_.remove_prefix(c.addr.size());
      }
      c.prefix = Int("a prefix length", 0, 128);
    }
    return out;
  }

 private:
  bool Need(uint64_t n, const char* what) {
    if (n <= in_.size()) return true;
    Fail(std::string("the setup ends inside ") + what);
    return false;
  }

  std::string_view in_;
  std::string error_;
};

void EncodeService(Writer& w, const config::Service& svc) {
  w.Bytes(svc.name);
  w.I64(static_cast<int64_t>(svc.transport));
  w.Bool(svc.wait);
  w.I64(static_cast<int64_t>(svc.internal));
  w.I64(svc.max_instances);
  w.I64(svc.per_source);
  w.Bool(svc.rate.has_value());
  if (svc.rate) {
    w.U64(svc.rate->count);
    w.Millis(svc.rate->period);
  }
  w.Millis(svc.backoff);
  w.Bool(svc.acl.allow().has_value());
  if (svc.acl.allow()) w.Cidrs(*svc.acl.allow());
  w.Cidrs(svc.acl.deny());
  w.U64(svc.listen.size());
  for (const auto& addr : svc.listen) {
    w.Bytes(addr.text);
    w.U64(addr.endpoints.size());
    for (const auto& ep : addr.endpoints) w.Endpoint(ep);
  }
}

// Into `svc`, a default one: a thousand services are not built twice.
void DecodeService(Reader& r, config::Service& svc) {
  svc.name = r.Bytes("a service name");
  svc.transport = static_cast<net::Transport>(r.Int("a transport", 0, 1));
  svc.wait = r.Bool();
  svc.internal = static_cast<config::Internal>(
      r.Int("an internal service", 0, static_cast<int>(config::Internal::kTime)));
  svc.max_instances = r.Int("max_instances", 0);
  svc.per_source = r.Int("per_source", 0);
  if (r.Bool()) {
    config::Service::Rate rate{};
    rate.count = r.U32("a rate's count", 1);
    rate.period = r.Millis("a rate's period");
    if (rate.period.count() == 0) r.Fail("a rate's period is 0");
    svc.rate = rate;
  }
  svc.backoff = r.Millis("backoff");
  std::optional<std::vector<net::Cidr>> allow;
  if (r.Bool()) allow = r.Cidrs();
  auto deny = r.Cidrs();
  svc.acl = net::AccessList(std::move(allow), std::move(deny));
  svc.listen.resize(r.Count("addresses", 16));
  for (auto& addr : svc.listen) {
    addr.text = r.Bytes("an address");
    addr.endpoints.resize(r.Count("endpoints", 8));
    for (auto& ep : addr.endpoints) ep = r.Endpoint();
  }
}

void EncodeState(Writer& w, const ServiceState& s, Clock::time_point now) {
  w.Bytes(s.name);
  w.I64(s.active);
  w.U64(s.per_source.size());
  for (const auto& [key, n] : s.per_source) {
    w.Bytes(key);
    w.I64(n);
  }
  // The bucket's tokens as of `now`; the listener rebuilds it from its rate.
  w.Bool(s.rate.has_value() && s.rate_config.has_value());
  if (s.rate && s.rate_config) {
    w.U64(s.rate_config->count);
    w.Millis(s.rate_config->period);
    RateLimiter bucket = *s.rate;  // tokens() refills: the state is not the encoder's to change
    w.Double(bucket.tokens(now));
  }
  w.I64(s.failures.streak());
  w.I64(static_cast<int64_t>(s.pause));
  w.Time(s.paused_until);
  w.Time(s.paused_at);
  w.Time(s.capacity_logged);
  for (uint64_t n : {s.accepted, s.refused_acl, s.refused_per_source, s.refused_reflection,
                     s.paused_rate, s.paused_failing, s.held_capacity, s.setup_failures,
                     s.seccomp_kills, s.timeouts}) {
    w.U64(n);
  }
}

std::shared_ptr<ServiceState> DecodeState(Reader& r, Clock::time_point now) {
  auto s = std::make_shared<ServiceState>();
  s->name = r.Bytes("a service name");
  s->active = r.Int("a count of children", 0);
  size_t sources = r.Count("sources", 16);
  for (size_t i = 0; i < sources && r.ok(); ++i) {
    std::string key(r.Bytes("a source"));
    s->per_source[key] = r.Int("a count of children", 0);
  }
  if (r.Bool()) {
    config::Service::Rate rate{};
    rate.count = r.U32("a rate's count", 1);
    rate.period = r.Millis("a rate's period");
    double tokens = r.Double();
    if (rate.period.count() == 0) r.Fail("a rate's period is 0");
    if (r.ok()) {
      s->rate.emplace(rate.count, rate.period, now);
      s->rate->SetTokens(tokens, now);
      s->rate_config = rate;
    }
  }
  s->failures.Restore(r.Int("a failure streak", 0));
  s->pause = static_cast<Pause>(r.Int("a pause", 0, static_cast<int>(Pause::kFailing)));
  s->paused_until = r.Time();
  s->paused_at = r.Time();
  s->capacity_logged = r.Time();
  for (uint64_t* n : {&s->accepted, &s->refused_acl, &s->refused_per_source,
                      &s->refused_reflection, &s->paused_rate, &s->paused_failing,
                      &s->held_capacity, &s->setup_failures, &s->seccomp_kills, &s->timeouts}) {
    *n = r.U64();
  }
  return s;
}

}  // namespace

std::string EncodeListenerSetup(const ListenerSetup& setup) {
  Writer w;
  w.Raw(kSetupMagic);
  w.Bytes(kBuild);
  w.U64(setup.generation);
  w.I64(setup.children);
  w.I64(setup.control_fd);
  w.I64(setup.doorbell_fd);
  w.I64(setup.log_fd);
  w.I64(setup.monitor_pid);
  const config::Config& config = *setup.config;
  w.Bytes(config.daemon.user);
  w.U64(config.daemon.uid);
  w.U64(config.daemon.gid);
  w.I64(config.daemon.max_children);
  w.Bool(config.daemon.log_peers);
  w.U64(config.services.size());
  for (const auto& svc : config.services) EncodeService(w, svc);
  auto now = Clock::now();
  w.U64(setup.services.size());
  for (const auto& s : setup.services) EncodeState(w, *s, now);
  w.U64(setup.sockets.size());
  for (const auto& s : setup.sockets) {
    w.I64(s->fd.get());
    w.Endpoint(s->ep);
    w.I64(static_cast<int64_t>(s->transport));
    w.U64(s->service);
    w.Bool(s->wait);
    w.Bool(s->busy);
    w.Bool(s->broken);
    w.I64(s->systemd_fd);
  }
  const auto& insns = setup.filter->insns();
  w.U64(insns.size());
  for (const auto& i : insns) {
    w.U64(i.code);
    w.U64(i.jt);
    w.U64(i.jf);
    w.U64(i.k);
  }
  return w.Take();
}

Result<ListenerImage> DecodeListenerSetup(std::string_view bytes) {
  if (bytes.substr(0, kSetupMagic.size()) != kSetupMagic) {
    return Error("not a listener setup (it does not start with \"hinetd-listener-setup 1\")");
  }
  Reader r(bytes.substr(kSetupMagic.size()));
  std::string_view build = r.Bytes("the build's version");
  if (r.ok() && build != kBuild) {
    return Error("the setup comes from hinetd " + std::string(build) + ", this is hinetd-listener " +
                 std::string(kBuild) + "; install the two from one build");
  }
  ListenerImage image;
  image.config = std::make_unique<config::Config>();
  ListenerSetup& setup = image.setup;
  setup.generation = r.U64();
  setup.children = r.Int("the count of children", 0);
  setup.control_fd = r.Int("the channel's descriptor", 0);
  setup.doorbell_fd = r.Int("the doorbell's descriptor", -1);
  setup.log_fd = r.Int("the log relay's descriptor", -1);
  setup.monitor_pid = r.Int("the monitor's pid", 1);
  config::Daemon& daemon = image.config->daemon;
  daemon.user = r.Bytes("the daemon's user");
  daemon.uid = r.U32("the daemon's uid", 0, UINT32_MAX - 1);
  daemon.gid = r.U32("the daemon's gid", 0, UINT32_MAX - 1);
  daemon.max_children = r.Int("max_children", 0);
  daemon.log_peers = r.Bool();
  image.config->services.resize(r.Count("services", 64));
  for (auto& svc : image.config->services) DecodeService(r, svc);
  auto now = Clock::now();
  setup.services.resize(r.Count("service states", 64));
  for (auto& s : setup.services) s = DecodeState(r, now);
  if (setup.services.size() != image.config->services.size()) {
    r.Fail("the services' states do not match the services (" +
           std::to_string(setup.services.size()) + " against " +
           std::to_string(image.config->services.size()) + ")");
  }
  setup.sockets.resize(r.Count("sockets", 32));
  for (auto& s : setup.sockets) {
    s = std::make_shared<ListenSocket>();
    int fd = r.Int("a socket's descriptor", -1);  // -1: none (as the monitor's copy)
    s->ep = r.Endpoint();
    s->transport = static_cast<net::Transport>(r.Int("a transport", 0, 1));
    uint64_t service = r.U64();
    if (service >= setup.services.size()) r.Fail("a socket of no service");
    s->service = static_cast<size_t>(service);
    s->wait = r.Bool();
    s->busy = r.Bool();
    s->broken = r.Bool();
    s->systemd_fd = r.Int("systemd's descriptor", -1);
    if (r.ok() && fd >= 0) s->fd.reset(fd);
  }
  std::vector<sock_filter> insns(r.Count("filter instructions", 32));
  for (auto& i : insns) {
    i.code = static_cast<uint16_t>(r.U32("an instruction", 0, UINT16_MAX));
    i.jt = static_cast<uint8_t>(r.U32("a jump", 0, UINT8_MAX));
    i.jf = static_cast<uint8_t>(r.U32("a jump", 0, UINT8_MAX));
    i.k = r.U32("an operand");
  }
  if (r.ok() && (insns.empty() || insns.size() > BPF_MAXINSNS)) {
    r.Fail("a filter of " + std::to_string(insns.size()) + " instructions");
  }
  if (r.ok() && !r.at_end()) r.Fail("bytes left after the setup");
  if (!r.ok()) {
    // The sockets decoded so far are the monitor's to close (the caller's
    // sweep closes them): none is owned here.
    for (auto& s : setup.sockets) {
      if (s) (void)s->fd.release();
    }
    return Error("listener setup: " + r.error());
  }
  image.filter = std::make_unique<sandbox::BpfProgram>(std::move(insns));
  setup.config = image.config.get();
  setup.filter = image.filter.get();
  return image;
}

}  // namespace hinetd::supervisor
