#include "config/jail.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "base/sha256.h"
#include "base/unique_fd.h"
#include "config/elf_closure.h"

namespace hinetd::config {

namespace {

using base::Error;
using base::Result;
using base::SourceLoc;

constexpr size_t kMaxTreeEntries = 100'000;  // one `files` directory, at most
constexpr int kMaxTreeDepth = 64;
// Every load reads and hashes the whole jail: a bound on what one may hold.
constexpr uint64_t kMaxJailBytes = uint64_t{1} << 30;
// Bumped whenever the layout of a tree changes, so that old trees are
// never mistaken for new ones.
constexpr const char* kFormat = "hinetd-jail-1";

// Paths hinetd writes itself.
const char* const kGenerated[] = {"/etc/passwd", "/etc/group"};

// The SHA-256 of a file's content, or an error.
Result<std::string> Digest(const std::string& path, uint64_t& size) {
  base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return base::ErrnoError("cannot read " + path, errno);
  base::Sha256 h;
  size = 0;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError("cannot read " + path, errno);
    if (n == 0) break;
    h.Update(buf, static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  return h.HexDigest();
}

std::string GroupName(gid_t gid, const std::string& known = "") {
  if (!known.empty() && known != std::to_string(gid)) return known;
  if (const group* g = getgrgid(gid)) return g->gr_name;
  return "g" + std::to_string(gid);
}

class Planner {
 public:
  Planner(const JailSpec& spec, const JailOwner& owner) : spec_(spec), owner_(owner) {}

  Result<JailPlan> Run(const std::string& jail_dir);

 private:
  Error Err(const SourceLoc& loc, const std::string& key, const std::string& message) const {
    return Error(loc, owner_.context + ": jail: " + key + ": " + message);
  }
  base::Status AddProgram(const std::string& path, const SourceLoc& loc, const std::string& key);
  base::Status AddFile(const std::string& host, const std::string& inner, const struct stat& st,
                       const SourceLoc& loc, const std::string& key, bool library);
  base::Status AddTree(const std::string& host, const std::string& inner, const SourceLoc& loc,
                       int depth, size_t& count);
  base::Status Add(JailEntry e, const SourceLoc& loc, const std::string& key);

  const JailSpec& spec_;
  const JailOwner& owner_;
  JailPlan plan_;
  std::map<std::string, JailEntry> entries_;
  std::map<std::string, SourceLoc> where_;  // which item put each entry there
};

base::Status Planner::Add(JailEntry e, const SourceLoc& loc, const std::string& key) {
  for (const char* g : kGenerated) {
    if (e.path == g && e.kind != JailEntryKind::kText) {
      return Err(loc, key, e.path + " is written by hinetd (root and the service's own user "
                           "and group); it cannot come from the host");
    }
  }
  auto it = entries_.find(e.path);
  if (it != entries_.end()) {
    const JailEntry& o = it->second;
    bool same = o.kind == e.kind && o.digest == e.digest && o.source == e.source &&
                o.text == e.text && o.mode == e.mode && o.uid == e.uid && o.gid == e.gid;
    // The same file twice (a program that is also a library, a program inside
    // a copied tree) is one entry.
    if (o.kind == JailEntryKind::kFile && e.kind == JailEntryKind::kFile &&
        o.digest == e.digest) {
      same = true;
    }
    if (same || (o.kind == JailEntryKind::kDir && e.kind == JailEntryKind::kDir && !e.writable &&
                 !o.writable)) {
      return base::Status();
    }
    return Err(loc, key, e.path + " is already in the jail, differently (from the item at " +
                             where_[e.path].ToString() + ")");
  }
  // Every ancestor is a directory.
  for (size_t slash = e.path.find('/', 1); slash != std::string::npos;
       slash = e.path.find('/', slash + 1)) {
    std::string parent = e.path.substr(0, slash);
    auto p = entries_.find(parent);
    if (p == entries_.end()) {
      JailEntry d;
      d.kind = JailEntryKind::kDir;
      d.path = parent;
      entries_[parent] = d;
      where_[parent] = loc;
    } else if (p->second.kind != JailEntryKind::kDir) {
      return Err(loc, key, e.path + " would be inside " + parent +
                               ", which is not a directory in the jail (from the item at " +
                               where_[parent].ToString() + ")");
    }
  }
  where_[e.path] = loc;
  entries_[e.path] = std::move(e);
  return base::Status();
}

base::Status Planner::AddFile(const std::string& host, const std::string& inner,
                              const struct stat& st, const SourceLoc& loc,
                              const std::string& key, bool library) {
  JailEntry e;
  e.kind = JailEntryKind::kFile;
  e.path = inner;
  e.source = host;
  // Read and execute bits as on the host; never write (the tree is not the
  // service's) nor set-id bits (pointless under no_new_privs, and a hazard).
  e.mode = st.st_mode & 0555;
  if (plan_.bytes + static_cast<uint64_t>(st.st_size) > kMaxJailBytes) {
    return Err(loc, key, "the jail would hold more than 1G (at " + host +
                             "); name only what the service needs");
  }
  auto digest = Digest(host, e.size);
  if (!digest.ok()) return Err(loc, key, digest.error().message());
  e.digest = *digest;
  if (!entries_.count(inner)) plan_.bytes += e.size;
  if (library && std::find(plan_.libraries.begin(), plan_.libraries.end(), host) ==
                     plan_.libraries.end()) {
    plan_.libraries.push_back(host);
  }
  return Add(std::move(e), loc, key);
}

base::Status Planner::AddProgram(const std::string& path, const SourceLoc& loc,
                                 const std::string& key) {
  if (std::string why = JailPathProblem(path); !why.empty()) {
    return Err(loc, key, "'" + path + "' " + why);
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return Err(loc, key, "'" + path + "': " + strerror(errno) +
                             " on this host (a program is copied from the host into the jail)");
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
    return Err(loc, key, "'" + path + "' is not an executable file");
  }
  if (std::find(plan_.programs.begin(), plan_.programs.end(), path) != plan_.programs.end()) {
    return base::Status();
  }
  plan_.programs.push_back(path);
  auto closure = ResolveElfClosure(path);
  if (!closure.ok()) return Err(loc, key, closure.error().message());
  if (auto s = AddFile(path, path, st, loc, key, false); !s.ok()) return s;
  for (const auto& interp : closure->interpreters_of_scripts) {
    if (auto s = AddProgram(interp, loc, key); !s.ok()) return s;
  }
  std::vector<std::string> libs = closure->libraries;
  if (!closure->interpreter.empty()) libs.insert(libs.begin(), closure->interpreter);
  for (const auto& lib : libs) {
    struct stat ls {};
    if (stat(lib.c_str(), &ls) != 0) {
      return Err(loc, key, lib + " (needed by " + path + "): " + strerror(errno));
    }
    if (auto s = AddFile(lib, lib, ls, loc, key, true); !s.ok()) return s;
  }
  return base::Status();
}

base::Status Planner::AddTree(const std::string& host, const std::string& inner,
                              const SourceLoc& loc, int depth, size_t& count) {
  if (depth > kMaxTreeDepth) return Err(loc, "files", host + ": deeper than 64 directories");
  DIR* d = opendir(host.c_str());
  if (d == nullptr) return Err(loc, "files", "cannot read the directory " + host + ": " + strerror(errno));
  std::vector<std::string> names;
  while (dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());  // the same tree, the same plan
  JailEntry dir;
  dir.kind = JailEntryKind::kDir;
  dir.path = inner;
  if (auto s = Add(dir, loc, "files"); !s.ok()) return s;
  for (const auto& n : names) {
    if (++count > kMaxTreeEntries) {
      return Err(loc, "files", host + ": more than 100000 entries; name what the service needs");
    }
    std::string from = host + "/" + n;
    std::string to = inner + "/" + n;
    struct stat st {};
    if (lstat(from.c_str(), &st) != 0) return Err(loc, "files", from + ": " + strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      if (auto s = AddTree(from, to, loc, depth + 1, count); !s.ok()) return s;
    } else if (S_ISREG(st.st_mode)) {
      if (auto s = AddFile(from, to, st, loc, "files", false); !s.ok()) return s;
    } else if (S_ISLNK(st.st_mode)) {
      // Kept as a link: it resolves inside the jail, never to the host.
      char target[4096];
      ssize_t len = readlink(from.c_str(), target, sizeof target - 1);
      if (len < 0) return Err(loc, "files", from + ": readlink: " + strerror(errno));
      JailEntry e;
      e.kind = JailEntryKind::kSymlink;
      e.path = to;
      e.source.assign(target, static_cast<size_t>(len));
      e.mode = 0777;
      if (auto s = Add(e, loc, "files"); !s.ok()) return s;
    } else {
      return Err(loc, "files", from + " is neither a file, a directory nor a symlink "
                                      "(device nodes come from devices = [...])");
    }
  }
  return base::Status();
}

Result<JailPlan> Planner::Run(const std::string& jail_dir) {
  plan_.service = owner_.service;
  plan_.jail_dir = jail_dir;
  {
    JailEntry root;
    root.kind = JailEntryKind::kDir;
    root.path = "/";
    entries_["/"] = root;
    where_["/"] = spec_.loc;
  }
  if (auto s = AddProgram(owner_.program, owner_.program_loc, "the program (exec)"); !s.ok()) {
    return s.error();
  }
  for (const auto& p : spec_.programs) {
    if (auto s = AddProgram(p.value, p.loc, "programs"); !s.ok()) return s.error();
  }
  for (const auto& f : spec_.files) {
    for (const std::string* path : {&f.value, &f.to}) {
      if (std::string why = JailPathProblem(*path); !why.empty()) {
        return Err(f.loc, "files", "'" + *path + "' " + why);
      }
    }
    if (f.to == "/") return Err(f.loc, "files", "cannot replace the jail's root '/'");
    struct stat st {};
    if (stat(f.value.c_str(), &st) != 0) {
      return Err(f.loc, "files", "'" + f.value + "': " + strerror(errno) + " on this host");
    }
    size_t count = 0;
    if (S_ISDIR(st.st_mode)) {
      if (auto s = AddTree(f.value, f.to, f.loc, 0, count); !s.ok()) return s.error();
    } else if (S_ISREG(st.st_mode)) {
      if (auto s = AddFile(f.value, f.to, st, f.loc, "files", false); !s.ok()) return s.error();
    } else {
      return Err(f.loc, "files", "'" + f.value + "' is neither a file nor a directory");
    }
    plan_.files.push_back(f.value == f.to ? f.value : f.value + " -> " + f.to);
  }
  {
    JailEntry dev;
    dev.kind = JailEntryKind::kDir;
    dev.path = "/dev";
    if (auto s = Add(dev, spec_.loc, "devices"); !s.ok()) return s.error();
  }
  for (const auto& d : spec_.devices) {
    const JailDevice* found = nullptr;
    for (const auto& known : kJailDevices) {
      if (d.value == known.name) found = &known;
    }
    if (found == nullptr) {
      return Err(d.loc, "devices", "'" + d.value +
                                       "' is not a device hinetd creates (expected \"null\", "
                                       "\"zero\", \"full\", \"random\" or \"urandom\")");
    }
    JailEntry e;
    e.kind = JailEntryKind::kDevice;
    e.path = std::string("/dev/") + found->name;
    e.mode = 0666;
    e.major = found->major;
    e.minor = found->minor;
    if (auto s = Add(e, d.loc, "devices"); !s.ok()) return s.error();
    plan_.devices.push_back(found->name);
  }
  // Accounts: root and the service's own, with its real ids.
  std::string passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\n";
  plan_.users.push_back("root 0");
  if (owner_.uid != 0) {
    passwd += owner_.user + ":x:" + std::to_string(owner_.uid) + ":" +
              std::to_string(owner_.gid) + ":" + owner_.user + ":/nonexistent:/usr/sbin/nologin\n";
    plan_.users.push_back(owner_.user + " " + std::to_string(owner_.uid));
  }
  std::string group = "root:x:0:\n";
  plan_.groups.push_back("root 0");
  std::vector<gid_t> gids{owner_.gid};
  for (gid_t g : owner_.groups) {
    if (std::find(gids.begin(), gids.end(), g) == gids.end()) gids.push_back(g);
  }
  for (gid_t g : gids) {
    if (g == 0) continue;
    std::string name = GroupName(g, g == owner_.gid ? owner_.group : "");
    group += name + ":x:" + std::to_string(g) + ":" + (g == owner_.gid ? "" : owner_.user) + "\n";
    plan_.groups.push_back(name + " " + std::to_string(g));
  }
  // `users`: accounts a program shows or looks up (finger's), with their
  // passwd fields as the host has them, never a password, and their
  // primary groups. A field with ':' or a newline would make another
  // entry: refused.
  std::vector<std::string> names{"root", owner_.user};
  std::vector<uid_t> uids{0, owner_.uid};
  for (const JailAccount& a : spec_.users) {
    for (const std::string* field : {&a.name, &a.group, &a.gecos, &a.home, &a.shell}) {
      if (field->find_first_of(":\n") != std::string::npos) {
        return Err(a.loc, "users", "the passwd entry of '" + a.name +
                                       "' has a field with ':' or a newline; it cannot be "
                                       "copied");
      }
    }
    if (std::find(names.begin(), names.end(), a.name) != names.end() ||
        std::find(uids.begin(), uids.end(), a.uid) != uids.end()) {
      return Err(a.loc, "users", "'" + a.name + "' (uid " + std::to_string(a.uid) +
                                     ") is already in the jail's /etc/passwd (root and the "
                                     "service's own user always are; list each other once)");
    }
    names.push_back(a.name);
    uids.push_back(a.uid);
    passwd += a.name + ":x:" + std::to_string(a.uid) + ":" + std::to_string(a.gid) + ":" +
              a.gecos + ":" + a.home + ":" + a.shell + "\n";
    plan_.users.push_back(a.name + " " + std::to_string(a.uid));
    if (std::find(gids.begin(), gids.end(), a.gid) == gids.end()) {
      gids.push_back(a.gid);
      std::string name = a.group.empty() ? GroupName(a.gid) : a.group;
      group += name + ":x:" + std::to_string(a.gid) + ":\n";
      plan_.groups.push_back(name + " " + std::to_string(a.gid));
    }
  }
  for (auto [path, text] : {std::pair{"/etc/passwd", passwd}, std::pair{"/etc/group", group}}) {
    JailEntry e;
    e.kind = JailEntryKind::kText;
    e.path = path;
    e.text = text;
    e.size = text.size();
    e.mode = 0444;
    if (auto s = Add(e, spec_.loc, "accounts"); !s.ok()) return s.error();
  }
  for (const auto& w : spec_.writable) {
    if (std::string why = JailPathProblem(w.value); !why.empty()) {
      return Err(w.loc, "writable", "'" + w.value + "' " + why);
    }
    for (const char* reserved : {"/", "/dev", "/etc"}) {
      if (w.value == reserved) {
        return Err(w.loc, "writable", "'" + w.value +
                                          "' holds what hinetd puts in the jail; name a "
                                          "directory of its own, e.g. /var/spool/NAME");
      }
    }
    // Nothing hinetd puts in the jail may be inside it: the service could
    // replace it (a library, say).
    std::string prefix = w.value + "/";
    for (const auto& [path, e] : entries_) {
      if (path.compare(0, prefix.size(), prefix) == 0) {
        return Err(w.loc, "writable", "'" + w.value + "' would hold " + path +
                                          " (from the item at " + where_[path].ToString() +
                                          "), which the service could then replace");
      }
    }
    JailEntry e;
    e.kind = JailEntryKind::kDir;
    e.path = w.value;
    e.mode = 0700;
    e.uid = owner_.uid;
    e.gid = owner_.gid;
    e.writable = true;
    if (auto s = Add(e, w.loc, "writable"); !s.ok()) return s.error();
    plan_.writable.push_back(w.value);
  }
  // Sorted by path, every directory before what is in it; hashed in that
  // order with everything that makes the tree what it is.
  base::Sha256 h;
  h.Update(kFormat);
  for (auto& [path, e] : entries_) {
    std::string line = std::to_string(static_cast<int>(e.kind)) + "\t" + path + "\t" +
                       std::to_string(e.mode) + "\t" + std::to_string(e.uid) + "\t" +
                       std::to_string(e.gid) + "\t" + std::to_string(e.major) + ":" +
                       std::to_string(e.minor) + "\t" + e.digest + "\t" +
                       (e.kind == JailEntryKind::kSymlink ? e.source : "") + "\t" +
                       std::to_string(e.text.size()) + "\n";
    h.Update(line);
    h.Update(e.text);
    plan_.entries.push_back(e);
  }
  plan_.hash = h.HexDigest();
  plan_.root = jail_dir + "/" + owner_.service + "-" + plan_.hash.substr(0, 16);
  std::sort(plan_.libraries.begin(), plan_.libraries.end());
  return std::move(plan_);
}

}  // namespace

std::string JailPathProblem(const std::string& path) {
  if (path.empty() || path[0] != '/') return "is not an absolute path";
  if (path == "/") return "";
  if (path.back() == '/') return "ends with '/'";
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos
                                                                      : slash - start);
    if (part.empty()) return "has an empty component ('//')";
    if (part == "." || part == "..") {
      return "has a '" + part + "' component (write the path plainly: '..' could leave the jail)";
    }
    if (part.find('\0') != std::string::npos) return "holds a NUL byte";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return "";
}

Result<JailPlan> PlanJail(const JailSpec& spec, const JailOwner& owner,
                          const std::string& jail_dir) {
  return Planner(spec, owner).Run(jail_dir);
}

}  // namespace hinetd::config
