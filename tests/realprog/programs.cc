#include "realprog/programs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/process.h"

namespace hinetd::testing {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Payload(const std::string& tag) {
  std::string s = "served by " + tag + " under hinetd\n";
  for (int i = 0; i < 4096; ++i) s += static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

std::string Show(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

namespace {

AssertionResult Built(bool ok, const JailBuilder& b) {
  return ok ? AssertionSuccess() : AssertionFailure() << "jail: " << b.error();
}

AssertionResult Accounts(JailBuilder& b) {
  return Built(b.AddDevices() && b.AddAccount("nobody", 65534, "nogroup", 65534), b);
}

}  // namespace

// rsync --daemon: started by inetd, it sees a socket on stdin and serves the
// modules of its config. No chroot of its own (it runs unprivileged in
// hinetd's), no reverse lookup.
RealProgram RsyncDaemon() {
  RealProgram p;
  p.name = "rsync";
  p.connections = 2;  // the module list, then the fetch
  // rsync's daemon returns -1 from main after sending a module list.
  p.statuses = {"exit:255", "exit:0"};
  p.needs = {"/usr/bin/rsync"};
  p.exec = {"/usr/bin/rsync", "--daemon", "--config=/etc/rsyncd.conf"};
  // hinetd builds its jail: rsync's closure, the config, the module's data.
  p.prepare = [](const std::string& data) -> AssertionResult {
    std::string srv = data + "/srv";
    bool ok = mkdir(srv.c_str(), 0755) == 0 && mkdir((srv + "/sub").c_str(), 0755) == 0;
    std::ofstream(data + "/rsyncd.conf") << "use chroot = no\nreverse lookup = no\n\n"
                                            "[data]\n  path = /srv/data\n  comment = test module\n"
                                            "  read only = yes\n";
    std::ofstream(srv + "/hello.bin", std::ios::binary) << Payload("rsync");
    std::ofstream(srv + "/sub/second.txt") << "second file\n";
    return ok ? AssertionSuccess() : AssertionFailure() << "cannot write the rsync data";
  };
  p.jail = [](const std::string& data) {
    return "{ files = [{ from = \"" + data + "/rsyncd.conf\", to = \"/etc/rsyncd.conf\" }, "
           "{ from = \"" + data + "/srv\", to = \"/srv/data\" }] }";
  };
  p.session = [](uint16_t port, const std::string& scratch) -> AssertionResult {
    std::string url = "rsync://127.0.0.1:" + std::to_string(port) + "/";
    CommandResult list = RunCommand({"/usr/bin/rsync", url}, milliseconds(20000));
    if (list.exit_code != 0 || list.out.find("data") == std::string::npos ||
        list.out.find("test module") == std::string::npos) {
      return AssertionFailure() << "rsync " << url << " (module list):\n" << Show(list);
    }
    CommandResult get = RunCommand({"/usr/bin/rsync", "-r", url + "data/", scratch + "/got/"},
                                   milliseconds(20000));
    if (get.exit_code != 0) return AssertionFailure() << "rsync -r " << url << "data/:\n" << Show(get);
    if (Slurp(scratch + "/got/hello.bin") != Payload("rsync") ||
        Slurp(scratch + "/got/sub/second.txt") != "second file\n") {
      return AssertionFailure() << "the files fetched differ from the module's";
    }
    return AssertionSuccess();
  };
  return p;
}

// git daemon --inetd: serves the repositories under its base path; each
// fetch runs `git upload-pack` (the git binary again, from its exec path).
// The repository is root's and the daemon runs as nobody: git refuses
// another user's repository unless /etc/gitconfig names it safe, and
// upload-pack checks the path "." it runs in, so the jail's gitconfig trusts
// every directory (the jail holds only the repository it serves).
RealProgram GitDaemon() {
  RealProgram p;
  p.name = "git";
  p.needs = {"/usr/bin/git", "/usr/lib/git-core/git", "/usr/lib/git-core/git-daemon"};
  // Its log to stderr (hinetd's log, stderr = "log"), not syslog: the jail
  // has no /dev/log.
  p.exec = {"/usr/bin/git", "daemon", "--inetd", "--verbose", "--log-destination=stderr",
            "--export-all", "--base-path=/srv/git", "/srv/git"};
  // hinetd builds its jail: git, the helpers it runs (git-daemon, and
  // upload-pack through the git binary of its exec path), the repository.
  p.prepare = [](const std::string& data) -> AssertionResult {
    std::ofstream(data + "/gitconfig") << "[safe]\n\tdirectory = *\n";
    // A repository with one commit, made by the host's git.
    std::string work = data + "/work";
    std::string repo = data + "/repo.git";
    auto git = [&](std::vector<std::string> args) {
      std::vector<std::string> argv = {"/usr/bin/env", "HOME=" + work, "GIT_CONFIG_NOSYSTEM=1",
                                       "/usr/bin/git"};
      argv.insert(argv.end(), args.begin(), args.end());
      return RunCommand(argv, milliseconds(20000));
    };
    if (mkdir(work.c_str(), 0700) != 0) return AssertionFailure() << "mkdir " << work;
    std::ofstream(work + "/README") << "cloned through hinetd\n";
    CommandResult r = git({"-C", work, "init", "-q"});
    if (r.exit_code == 0) r = git({"-C", work, "add", "README"});
    if (r.exit_code == 0) {
      r = git({"-C", work, "-c", "user.name=hinetd test", "-c", "user.email=test@localhost",
               "commit", "-q", "-m", "first"});
    }
    if (r.exit_code == 0) r = git({"clone", "-q", "--bare", work, repo});
    RemoveTree(work);
    if (r.exit_code != 0) return AssertionFailure() << "making the repository: " << Show(r);
    return AssertionSuccess();
  };
  p.jail = [](const std::string& data) {
    return "{ programs = [\"/usr/lib/git-core/git\", \"/usr/lib/git-core/git-daemon\"], "
           "files = [{ from = \"" + data + "/repo.git\", to = \"/srv/git/repo.git\" }, "
           "{ from = \"" + data + "/gitconfig\", to = \"/etc/gitconfig\" }] }";
  };
  p.session = [](uint16_t port, const std::string& scratch) -> AssertionResult {
    std::string url = "git://127.0.0.1:" + std::to_string(port) + "/repo.git";
    CommandResult r = RunCommand({"/usr/bin/env", "HOME=" + scratch, "GIT_CONFIG_NOSYSTEM=1",
                                  "/usr/bin/git", "clone", "-q", url, scratch + "/clone"},
                                 milliseconds(30000));
    if (r.exit_code != 0) return AssertionFailure() << "git clone " << url << ":\n" << Show(r);
    if (Slurp(scratch + "/clone/README") != "cloned through hinetd\n") {
      return AssertionFailure() << "the clone's README is \"" << Slurp(scratch + "/clone/README")
                                << "\"";
    }
    return AssertionSuccess();
  };
  return p;
}

// in.fingerd: reads one request line and runs /usr/bin/finger on it, which
// reads the jail's /etc/passwd and the user's ~/.plan. The finger client
// only talks to port 79: the test runs hinetd and the client in a network
// namespace of its own (RealProgram::port).
RealProgram Fingerd() {
  RealProgram p;
  p.name = "finger";
  p.port = 79;
  p.needs = {"/usr/sbin/in.fingerd", "/usr/bin/finger"};
  p.exec = {"/usr/sbin/in.fingerd"};
  p.build = [](Jail& jail, JailBuilder& b) -> AssertionResult {
    if (!b.AddProgram("/usr/sbin/in.fingerd") || !b.AddProgram("/usr/bin/finger") ||
        !b.AddDevices()) {
      return Built(false, b);
    }
    bool ok = jail.Write("/etc/passwd",
                         "root:x:0:0:root:/root:/bin/sh\n"
                         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                         "alice:x:1500:1500:Alice Liddell,,,:/home/alice:/bin/sh\n") &&
              jail.Write("/etc/group", "root:x:0:\nnogroup:x:65534:\nalice:x:1500:\n") &&
              jail.Write("/home/alice/.plan", "Testing hinetd with real programs.\n");
    if (ok) {
      std::string home = jail.path() + "/home/alice";
      ok = chown(home.c_str(), 1500, 1500) == 0 && chown((home + "/.plan").c_str(), 1500, 1500) == 0;
    }
    return ok ? AssertionSuccess() : AssertionFailure() << "cannot write finger's accounts";
  };
  p.session = [](uint16_t, const std::string&) -> AssertionResult {
    CommandResult r = RunCommand({"/usr/bin/finger", "alice@127.0.0.1"}, milliseconds(20000));
    // alice exists only in the jail.
    if (r.exit_code != 0 || r.out.find("Login: alice") == std::string::npos ||
        r.out.find("Name: Alice Liddell") == std::string::npos ||
        r.out.find("Directory: /home/alice") == std::string::npos ||
        r.out.find("Testing hinetd with real programs.") == std::string::npos) {
      return AssertionFailure() << "finger alice@127.0.0.1:\n" << Show(r);
    }
    return AssertionSuccess();
  };
  return p;
}

// busybox httpd -i: one HTTP request per connection, files from its home.
RealProgram BusyboxHttpd() {
  RealProgram p;
  p.name = "httpd";
  p.connections = 3;  // three requests
  p.needs = {"/usr/bin/busybox", "/usr/bin/curl"};
  p.exec = {"/usr/bin/busybox", "httpd", "-i", "-h", "/www"};
  // busybox drops set-id privileges before any applet runs (setgid(getgid()),
  // setuid(getuid())), which `default` kills as identity changes; without
  // capabilities these calls can only set the ids the process already has.
  p.policy = "busybox";
  p.policy_text =
      "description = \"default, and busybox's drop of set-id privileges it does not have\"\n"
      "include = [\"default\"]\n"
      "allow = [\"setgid\", \"setuid\"]\n";
  p.build = [](Jail& jail, JailBuilder& b) -> AssertionResult {
    if (!b.AddProgram("/usr/bin/busybox")) return Built(false, b);
    if (auto r = Accounts(b); !r) return r;
    bool ok = jail.Write("/www/index.html", "<p>hello from busybox httpd</p>\n") &&
              jail.Write("/www/blob.bin", Payload("busybox httpd"));
    return ok ? AssertionSuccess() : AssertionFailure() << "cannot write /www";
  };
  p.session = [](uint16_t port, const std::string& scratch) -> AssertionResult {
    std::string base = "http://127.0.0.1:" + std::to_string(port) + "/";
    CommandResult page = RunCommand({"/usr/bin/curl", "-sS", "--max-time", "10", base},
                                    milliseconds(20000));
    if (page.exit_code != 0 || page.out != "<p>hello from busybox httpd</p>\n") {
      return AssertionFailure() << "curl " << base << ":\n" << Show(page);
    }
    CommandResult blob =
        RunCommand({"/usr/bin/curl", "-sS", "--max-time", "10", "-o", scratch + "/blob.bin",
                    "-w", "%{http_code}", base + "blob.bin"},
                   milliseconds(20000));
    if (blob.exit_code != 0 || blob.out != "200" ||
        Slurp(scratch + "/blob.bin") != Payload("busybox httpd")) {
      return AssertionFailure() << "curl " << base << "blob.bin:\n" << Show(blob);
    }
    CommandResult missing = RunCommand({"/usr/bin/curl", "-sS", "--max-time", "10", "-o",
                                        "/dev/null", "-w", "%{http_code}", base + "nosuch"},
                                       milliseconds(20000));
    if (missing.out != "404") return AssertionFailure() << "curl " << base << "nosuch:\n" << Show(missing);
    return AssertionSuccess();
  };
  return p;
}

// in.tftpd (tftpd-hpa) as inetd runs it: udp, wait = true, the listening
// socket on stdin; it serves the files under the directory it is given.
RealProgram Tftpd() {
  RealProgram p;
  p.name = "tftp";
  p.udp = true;
  p.needs = {"/usr/sbin/in.tftpd", "/usr/bin/tftp"};
  // -t 1: wait one second for another request, then exit (inetd starts
  // a new one for the next).
  // As Debian runs it (/etc/default/tftpd-hpa): --secure chroots into
  // /srv/tftp, --user is the account it drops to. Each request's child calls
  // initgroups, chroot("."), setregid and setreuid itself, which it may
  // only under drops_privileges.
  p.exec = {"/usr/sbin/in.tftpd", "-t", "1", "--user", "nobody", "--secure", "/srv/tftp"};
  // Each transfer has a socket of its own (a new port, RFC 1350's TID),
  // which `default` refuses; syslog's socket still fails as there.
  p.policy = "tftpd";
  p.policy_text =
      "description = \"default, its own identity, and the UDP socket of each transfer\"\n"
      "include = [\"default\", \"identity\"]\n"
      "allow = [{ syscall = \"socket\", when = \"family == AF_INET\" }, \"bind\",\n"
      "         \"connect\", \"getsockname\", \"setsockopt\", \"sendto\", \"recvfrom\"]\n"
      "[errno]\nsocket = { errno = \"EACCES\", when = \"family == AF_UNIX\" }\n";
  p.extra = "protocol = \"udp\"\nwait = true\ndrops_privileges = true\n";
  p.build = [](Jail& jail, JailBuilder& b) -> AssertionResult {
    if (!b.AddProgram("/usr/sbin/in.tftpd")) return Built(false, b);
    if (auto r = Accounts(b); !r) return r;
    return jail.Write("/srv/tftp/boot.bin", Payload("tftpd-hpa"))
               ? AssertionSuccess()
               : AssertionFailure() << "cannot write /srv/tftp";
  };
  p.session = [](uint16_t port, const std::string& scratch) -> AssertionResult {
    CommandResult r = RunCommand({"/usr/bin/tftp", "-m", "binary", "127.0.0.1",
                                  std::to_string(port), "-c", "get", "boot.bin",
                                  scratch + "/boot.bin"},
                                 milliseconds(20000));
    if (r.exit_code != 0 || Slurp(scratch + "/boot.bin") != Payload("tftpd-hpa")) {
      return AssertionFailure() << "tftp get boot.bin:\n" << Show(r);
    }
    return AssertionSuccess();
  };
  return p;
}

}  // namespace hinetd::testing
