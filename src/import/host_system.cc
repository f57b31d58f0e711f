// The real system behind SystemLookup.
#include <dirent.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/fs.h"
#include "config/elf_imports.h"
#include "import/model.h"

namespace hinetd::importer {

std::optional<uint16_t> HostSystem::ServicePort(const std::string &name,
                                                const std::string &proto) const {
  servent *s = getservbyname(name.c_str(), proto.c_str());
  if (s == nullptr) return std::nullopt;
  return ntohs(static_cast<uint16_t>(s->s_port));
}

bool HostSystem::UserExists(const std::string &name) const {
  return getpwnam(name.c_str()) != nullptr;
}

bool HostSystem::GroupExists(const std::string &name) const {
  return getgrnam(name.c_str()) != nullptr;
}

bool HostSystem::IsProgram(const std::string &path) const {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}

bool HostSystem::Exists(const std::string &path) const {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

bool HostSystem::ImportsSyslog(const std::string &program) const {
  return config::ImportsSyslog("/", program);
}

base::Result<std::string> HostSystem::ReadFile(const std::string &path) const {
  return base::ReadFile(path);
}

base::Result<std::vector<std::string>> HostSystem::ListDirectory(const std::string &path) const {
  DIR *d = opendir(path.c_str());
  if (d == nullptr) return base::ErrnoError("cannot read the directory " + path, errno);
  std::vector<std::string> names;
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace hinetd::importer
