// The monitor (monitor.h): loading a table on SIGHUP, building its jails,
// binding its sockets, and installing it once the listener has handed
// over; and what a start shares with a reload (monitor_internal.h).
#include <cap-ng.h>
#include <linux/capability.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "config/config.h"
#include "config/system_checks.h"
#include "jail/builder.h"
#include "net/socket.h"
#include "supervisor/bind_table.h"
#include "supervisor/monitor.h"
#include "supervisor/monitor_internal.h"

namespace hinetd::supervisor {

using base::Error;
using base::LogLine;
using base::Status;

namespace monitor_detail {

void BindCapability(bool on) {
  capng_get_caps_process();
  capng_update(on ? CAPNG_ADD : CAPNG_DROP, CAPNG_EFFECTIVE, CAP_NET_BIND_SERVICE);
  capng_apply(CAPNG_SELECT_CAPS);
}

Status NamespacesPossible(const config::Config& config, bool have_sys_admin) {
  if (have_sys_admin) return Status();
  for (const auto& svc : config.services) {
    if (svc.namespaces == 0) continue;
    return Error(svc.loc, "service \"" + svc.name +
                              "\": namespaces (default [\"pid\"]) need CAP_SYS_ADMIN, which "
                              "hinetd does not have here (a container?): give it the "
                              "capability, or set namespaces = [] (in [defaults] for all), and "
                              "what a child starts can then outlive it");
  }
  return Status();
}

bool HasJail(const config::Config& config) {
  return std::any_of(config.services.begin(), config.services.end(),
                     [](const config::Service& s) { return s.jail != nullptr; });
}

}  // namespace monitor_detail

using namespace monitor_detail;

Status Monitor::SyncSyslogRelay(const config::Config& config) {
  return syslog_relay_.Sync(
      config, [this](int fd) { Watch(fd, Tag(kSyslog, fd), EPOLLIN); },
      [this](int fd) { Unwatch(fd); });
}

Status Monitor::EnsureEmptyChroot() {
  // The root of every listener, whatever the table holds, and the jail of
  // internal services (shared with `hinetd audit --prove`).
  return config::EnsureEmptyChroot();
}

Status Monitor::BuildJails(const config::Config& config) {
  for (const auto& svc : config.services) {
    if (!svc.jail) continue;
    auto report = jail::BuildJail(*svc.jail);
    if (!report.ok()) return Error(svc.loc, report.error().message());
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%.3fs", report->seconds);
    log_.Info(LogLine("jail")
                  .Add("service", svc.name)
                  .Add("action", report->built ? "built" : "kept")
                  .Add("root", svc.jail->root)
                  .Add("entries", report->entries)
                  .Add("bytes", report->bytes)
                  .Add("duration", seconds));
  }
  return Status();
}

void Monitor::RemoveUnusedJails(const config::Config* previous) {
  // The directories to sweep: the running table's, and the one before's
  // (a reload may have moved jail_dir or dropped the last jail).
  std::set<std::string> dirs;
  for (const config::Config* c : {static_cast<const config::Config*>(config_.get()), previous}) {
    if (c != nullptr && HasJail(*c)) dirs.insert(c->daemon.jail_dir);
  }
  if (dirs.empty()) return;
  std::set<std::string> keep;
  for (const auto& svc : config_->services) {
    if (svc.jail) keep.insert(svc.jail->root);
  }
  for (const auto& [pid, c] : children_.all()) {
    if (!c.chroot.empty()) keep.insert(c.chroot);
  }
  for (const auto& dir : dirs) {
    for (const auto& path : jail::RemoveStaleJails(dir, keep)) {
      log_.Info(LogLine("jail-removed").Add("root", path));
    }
  }
}

void Monitor::Install(std::unique_ptr<config::Config> config,
                      std::unique_ptr<spawn::PlanSet> plans, SocketList sockets) {
  // The new table's view of each socket (in the order BindTable made them).
  // Set only now: until the switch, the running listener's requests are
  // checked against the old view.
  size_t n = 0;
  for (size_t i = 0; i < config->services.size(); ++i) {
    for (const auto& addr : config->services[i].listen) {
      for (size_t e = 0; e < addr.endpoints.size(); ++e, ++n) {
        sockets[n]->service = i;
        sockets[n]->wait = config->services[i].wait;
      }
    }
  }
  sockets_ = std::move(sockets);  // sockets no longer listed close here
  sockets_by_service_ = SocketsByService(sockets_, config->services.size());
  park_due_ = true;
  services_ = CarryOver(services_, config->services);
  config_ = std::move(config);
  plans_ = std::move(plans);
  plan_identities_.clear();
  for (size_t i = 0; i < config_->services.size(); ++i) {
    const config::Service& svc = config_->services[i];
    std::string identity;
    if (svc.wait) {
      identity = spawn::PlanIdentity(plans_->plans[i]);
      // The timeout too: a running child keeps the deadline it started with.
      identity += "timeout:" + (svc.timeout ? std::to_string(svc.timeout->count()) : "none");
    }
    plan_identities_.push_back(std::make_shared<const std::string>(std::move(identity)));
  }
  served_ports_ = ServedPorts(*config_);
  ++generation_;
  if (recorder_) recorder_->NewGeneration();
  if (channel_) channel_->set_queue_limit(ChannelLimit(), ChannelLimit() * kEndReportWireBytes);
  std::vector<LogLine> listening;  // one write for them all (WriteLines)
  listening.reserve(sockets_.size());
  for (const auto& s : sockets_) {
    const config::Service& svc = config_->services[s->service];
    LogLine& line = listening.emplace_back("listen");
    line.Add("service", svc.name)
        .Add("address", net::ToString(s->ep))
        .Add("protocol", net::ProtocolName(s->ep, s->transport));
    if (s->transport == net::Transport::kUdp) line.Add("wait", s->wait ? "true" : "false");
  }
  log_.WriteLines(listening, LOG_INFO);
  for (const auto& w : config_->warnings) log_.Warning(LogLine("warning").Add("message", w));
}

void Monitor::Reload() {
  if (reload_) {
    // Not dropped: the file may have changed again since this reload read it.
    if (!reload_queued_) {
      log_.Info(LogLine("reload-queued").Add("reason", "a reload is in progress"));
    }
    reload_queued_ = true;
    return;
  }
  Notify(ReloadingState());
  auto fail = [&](const Error& e) {
    log_.Error(LogLine("reload-failed")
                   .Add("error", e.ToString())
                   .Add("kept", "generation " + std::to_string(generation_)));
    // Still serving, the old table: ready again, and the status says why
    // nothing changed (systemctl status shows it).
    std::string why = e.ToString();
    std::replace(why.begin(), why.end(), '\n', ' ');
    Notify("READY=1\nSTATUS=reload failed, generation " + std::to_string(generation_) +
           " kept: " + why);
  };
  auto table = spawn::LoadTable(options_.config_path, options_.plan_options);
  if (!table.ok()) return fail(table.error());
  if (auto s = recorder_->Arm(*table->config, *table->plans); !s.ok()) return fail(s.error());
  if (auto s = spawn::PrepareIdentityNamespaces(*table->plans, ns_maker_.get()); !s.ok()) return fail(s.error());
  if (children_filter_) spawn::MergeChildrenLayer(*table->plans, *children_filter_);
  if (auto s = NamespacesPossible(*table->config, have_sys_admin_); !s.ok()) {
    return fail(s.error());
  }
  auto& config = table->config;
  if (config->daemon.uid != config_->daemon.uid) {
    return fail(Error("[daemon] user cannot change on a reload (the listener's account); "
                      "restart hinetd"));
  }
  if (auto s = EnsureEmptyChroot(); !s.ok()) return fail(s.error());
  if (options_.harden_self && !jail_caps_ && HasJail(*config)) {
    return fail(Error("a jail needs CAP_MKNOD and CAP_CHOWN, which hinetd gave up at start "
                      "because no service had a jail then; restart hinetd"));
  }
  // A tree that fails to build leaves the running ones, and the table, as
  // they are; one that is built stays for the next try.
  if (auto s = BuildJails(*config); !s.ok()) return fail(s.error());
  // The sockets the new table keeps go to its listener: in hand from here.
  if (auto s = SocketsInHand(); !s.ok()) return fail(s.error());
  if (options_.harden_self) BindCapability(true);
  auto sockets =
      BindTable(*config, sockets_, options_.passed_sockets, options_.listen_backlog, log_);
  if (options_.harden_self) BindCapability(false);
  if (!sockets.ok()) return fail(sockets.error());
  if (auto s = SyncSyslogRelay(*config); !s.ok()) return fail(s.error());
  for (const PassedSocket* p : UnusedPassed(options_.passed_sockets, *sockets)) {
    // The table moved a socket-activated service elsewhere (hinetd bound
    // the new address itself) or removed it: systemd's socket stays open
    // here, unused, for a later reload to take again.
    log_.Warning(LogLine("warning").Add(
        "message", "the socket systemd passed as " + p->Describe() +
                       " matches no listen address of the new table; it stays open but is "
                       "not served (update the .socket unit to match " +
                       options_.config_path + ")"));
  }
  // Everything is ready. The running listener hands over its state and
  // exits; connections wait in the backlog for the one started next.
  reload_ = PendingReload{std::move(table->config), std::move(table->plans), std::move(*sockets)};
  if (listener_.running()) {
    // A listener whose channel is already closed (it is exiting, or was
    // killed) is waited for too: two must never run at once.
    handover_deadline_ = Clock::now() + options_.handover_wait;
    HandoverMessage handover;
    SendToListener(&handover, sizeof handover);
  } else {
    FinishReload();
  }
}

void Monitor::FinishReload() {
  if (!reload_) return;
  PendingReload pending = std::move(*reload_);
  reload_.reset();
  handover_deadline_ = Clock::time_point::max();
  size_t count = pending.config->services.size();
  // Children still setting up keep the plans they read (Child::plans).
  std::shared_ptr<const config::Config> previous = config_;
  Install(std::move(pending.config), std::move(pending.plans), std::move(pending.sockets));
  RemoveUnusedJails(previous.get());
  // The old table goes now (unless a child still holds it), before the
  // new listener's setup is encoded: its memory is reused for that.
  previous.reset();
  stale_.Mark(*config_, plan_identities_, sockets_);
  log_.Info(LogLine("reload")
                .Add("generation", generation_)
                .Add("services", count)
                .Add("listeners", sockets_.size()));
  ready_status_ = "serving " + std::to_string(count) + " services, generation " +
                  std::to_string(generation_);
  if (stopping_) return;
  if (options_.external_listener_fd < 0) {
    ready_due_ = true;  // READY=1 when the new listener serves
    StartListener();
  } else {
    Serving();
  }
}

}  // namespace hinetd::supervisor
