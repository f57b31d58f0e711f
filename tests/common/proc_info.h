// What /proc says about a process hinetd runs: its open descriptors, its
// resident memory, its zombie children. For tests that check nothing leaked.
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

// Children of `parent` that are zombies (exited, not reaped); -1 if /proc
// cannot be read.
inline int Zombies(pid_t parent) {
  int zombies = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(in, stat);
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == parent && state == 'Z') ++zombies;
  }
  closedir(d);
  return zombies;
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
