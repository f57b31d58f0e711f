// `hinetd import [-o OUT] [--force] [--format inetd|xinetd] FILE`: convert
// an inetd.conf or xinetd.conf into a services table. The report (what was
// not translated, what is commented out and why) goes to stderr.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "import/model.h"

namespace hinetd::cli {
namespace {

bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The host, except that the input file reads as the text already read
// (standard input for "-").
class InputOverlay final : public importer::SystemLookup {
 public:
  InputOverlay(const importer::SystemLookup& host, std::string path, const std::string& text)
      : host_(host), path_(std::move(path)), text_(text) {}
  std::optional<uint16_t> ServicePort(const std::string& name,
                                      const std::string& proto) const override {
    return host_.ServicePort(name, proto);
  }
  bool UserExists(const std::string& name) const override { return host_.UserExists(name); }
  bool GroupExists(const std::string& name) const override { return host_.GroupExists(name); }
  bool IsProgram(const std::string& path) const override { return host_.IsProgram(path); }
  bool Exists(const std::string& path) const override { return host_.Exists(path); }
  bool ImportsSyslog(const std::string& program) const override {
    return host_.ImportsSyslog(program);
  }
  base::Result<std::string> ReadFile(const std::string& path) const override {
    if (path == path_) return text_;
    return host_.ReadFile(path);
  }
  base::Result<std::vector<std::string>> ListDirectory(const std::string& path) const override {
    return host_.ListDirectory(path);
  }

 private:
  const importer::SystemLookup& host_;
  std::string path_;
  const std::string& text_;
};

}  // namespace

int RunImport(const Args& args) {
  importer::HostSystem sys;
  std::string text;
  if (args.import_file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    auto t = sys.ReadFile(args.import_file);
    if (!t.ok()) {
      fprintf(stderr, "hinetd import: %s\n", t.error().ToString().c_str());
      return kExitNoInput;
    }
    text = std::move(*t);
  }
  // What messages and the output call the input.
  const std::string name = args.import_file == "-" ? "<stdin>" : args.import_file;
  importer::Format format = importer::DetectFormat(text);
  if (args.import_format == "inetd") format = importer::Format::kInetd;
  if (args.import_format == "xinetd") format = importer::Format::kXinetd;

  base::Result<importer::Parsed> parsed = base::Error("");
  if (format == importer::Format::kInetd) {
    parsed = importer::ParseInetd(text, name);
  } else {
    InputOverlay input(sys, name, text);
    parsed = importer::ParseXinetd(name, input);
  }
  if (!parsed.ok()) {
    fprintf(stderr, "hinetd import: %s\n", parsed.error().ToString().c_str());
    return kExitDataErr;
  }
  // tcpd's files are this host's: read by default only with this host's
  // own inetd.conf or xinetd.conf.
  bool own = args.import_file == "/etc/inetd.conf" || args.import_file == "/etc/xinetd.conf";
  importer::HostsFiles hosts{args.hosts_allow.value_or(own ? "/etc/hosts.allow" : ""),
                             args.hosts_deny.value_or(own ? "/etc/hosts.deny" : "")};
  importer::Conversion conv = importer::Translate(*parsed, name, format, sys, hosts);
  std::string toml = importer::WriteToml(conv);

  if (args.output.empty()) {
    if (!WriteAll(STDOUT_FILENO, toml)) {
      fprintf(stderr, "hinetd import: cannot write to stdout: %s\n", strerror(errno));
      return kExitCantCreate;
    }
  } else {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (args.force ? O_TRUNC : O_EXCL);
    int fd = open(args.output.c_str(), flags, 0644);
    if (fd < 0) {
      int err = errno;
      if (err == EEXIST) {
        fprintf(stderr,
                "hinetd import: %s exists; hinetd import never overwrites a "
                "file unless told "
                "(add --force, or choose another -o)\n",
                args.output.c_str());
      } else {
        fprintf(stderr, "hinetd import: cannot create %s: %s\n", args.output.c_str(),
                strerror(err));
      }
      return kExitCantCreate;
    }
    bool ok = WriteAll(fd, toml);
    int err = errno;
    if (close(fd) != 0 && ok) {
      ok = false;
      err = errno;
    }
    if (!ok) {
      fprintf(stderr, "hinetd import: cannot write %s: %s\n", args.output.c_str(), strerror(err));
      return kExitCantCreate;
    }
  }
  std::string report = importer::Report(conv);
  if (!args.output.empty()) report += "hinetd import: wrote " + args.output + "\n";
  fputs(report.c_str(), stderr);
  return kExitOk;
}

}  // namespace hinetd::cli
