// What /proc says about a process hinetd runs: its open descriptors, its
// resident memory, its children (zombies, or by name). For tests that check nothing leaked.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hinetd::testing {

// Descriptors open in `pid`, or -1 if it is gone.
inline int OpenFds(pid_t pid) {
  int n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// VmRSS of `pid` in kB, or -1.
inline long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A field of /proc/PID/status (e.g. "CapEff"), its value without the
// leading blanks; "<missing>" if there is none.
inline std::string ProcStatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "<missing>";
}

// What /proc/PID/stat says of a process: its name, state and parent.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;
  char state = 0;
  pid_t ppid = 0;
};

// Calls f(stat) for every process /proc lists; false if /proc cannot be
// read.
template <typename F>
bool ForEachProcess(F&& f) {
  DIR* d = opendir("/proc");
  if (d == nullptr) return false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(in, stat);
    size_t open = stat.find('(');
    size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    ProcStat ps;
    ps.pid = static_cast<pid_t>(std::stol(e->d_name));
    ps.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 2));
    rest >> ps.state >> ps.ppid;
    f(ps);
  }
  closedir(d);
  return true;
}

// Children of `parent` that are zombies (exited, not reaped); -1 if /proc
// cannot be read.
inline int Zombies(pid_t parent) {
  int zombies = 0;
  bool read = ForEachProcess([&](const ProcStat& ps) {
    if (ps.ppid == parent && ps.state == 'Z') ++zombies;
  });
  return read ? zombies : -1;
}

// A child of `parent` whose name (comm) is `comm`, or -1.
inline pid_t ChildNamed(pid_t parent, const std::string& comm) {
  pid_t found = -1;
  ForEachProcess([&](const ProcStat& ps) {
    if (ps.ppid == parent && ps.comm == comm) found = ps.pid;
  });
  return found;
}

// The inode of the file `pid` has open as descriptor `fd`, or 0.
inline ino_t FdInode(pid_t pid, int fd) {
  struct stat st {};
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The descriptor of `pid` whose file has inode `ino`, or -1.
inline int FdWithInode(pid_t pid, ino_t ino) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::stoi(e->d_name);
    if (FdInode(pid, fd) == ino) found = fd;
  }
  closedir(d);
  return found;
}

// The files (inodes) registered in the epoll sets `pid` holds, from the
// "tfd: N events: E data: D pos: P ino: I" lines of their fdinfo.
inline std::vector<ino_t> EpollWatchedInodes(pid_t pid) {
  std::vector<ino_t> out;
  std::string base = "/proc/" + std::to_string(pid);
  DIR* d = opendir((base + "/fd").c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char link[64] = {};
    std::string fd_path = base + "/fd/" + e->d_name;
    if (readlink(fd_path.c_str(), link, sizeof link - 1) <= 0) continue;
    if (std::string(link) != "anon_inode:[eventpoll]") continue;
    std::ifstream info(base + "/fdinfo/" + e->d_name);
    for (std::string line; std::getline(info, line);) {
      if (line.rfind("tfd:", 0) != 0) continue;
      size_t at = line.find("ino:");
      if (at != std::string::npos) out.push_back(std::stoull(line.substr(at + 4), nullptr, 16));
    }
  }
  closedir(d);
  return out;
}

}  // namespace hinetd::testing
