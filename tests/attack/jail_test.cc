// A service in a jail hinetd built, run without a seccomp policy of its own
// (sandbox = "none"), so that only the tree's owners and modes and the
// child's empty capability sets stand in its way: it tries to write
// everywhere, to replace and chmod a library, to rename over libc, and to
// make device nodes. Only its writable directory takes anything.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/net.h"
#include "config/elf_closure.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class JailAttackTest : public E2eTest {};

TEST_F(JailAttackTest, TheServiceCannotWriteReplaceOrMknodOutsideWritable) {
  auto sh = config::ResolveElfClosure("/bin/sh");
  ASSERT_TRUE(sh.ok()) << sh.error().ToString();
  ASSERT_FALSE(sh->interpreter.empty());
  ASSERT_FALSE(sh->libraries.empty());
  const std::string loader = sh->interpreter;
  const std::string libc = sh->libraries.back();
  // Each attempt prints "ALLOWED what" or "denied what".
  std::string script =
      "t() { what=$1; shift; if \"$@\" 2>/dev/null; then echo \"ALLOWED $what\"; else "
      "echo \"denied $what\"; fi; }\n"
      "w() { ( echo planted > \"$1\" ) 2>/dev/null; }\n"
      "for d in / /etc /dev /bin /usr /srv /var /var/spool; do t \"write $d\" w \"$d/planted\"; "
      "done\n"
      "t 'overwrite loader' w " + loader + "\n"
      "t 'overwrite libc' w " + libc + "\n"
      "t 'overwrite passwd' w /etc/passwd\n"
      "t 'chmod loader' /bin/chmod 0777 " + loader + "\n"
      "t 'spool' w /var/spool/jt/evil\n"
      "t 'rename over libc' /bin/mv /var/spool/jt/evil " + libc + "\n"
      "t 'mknod mem' /bin/mknod /var/spool/jt/mem c 1 1\n"
      "t 'mknod disk' /bin/mknod /dev/sda b 8 0\n";
  dir_.Write("attack.sh", script);
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(
      "[[service]]\nname = \"jt\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
          "\"\nexec = [\"/bin/sh\", \"/attack.sh\"]\nuser = \"nobody\"\nsandbox = \"none\"\n"
          "unconfined = true\nstderr = \"log\"\njail = { programs = [\"/bin/chmod\", "
          "\"/bin/mv\", \"/bin/mknod\"], files = [{ from = \"" + dir_.path() +
          "/attack.sh\", to = \"/attack.sh\" }], writable = [\"/var/spool/jt\"] }\n",
      "jail_dir = \"" + dir_.path() + "/jails\"\n");
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  auto built = daemon_.WaitForLine({"event=jail", "action=built"}, milliseconds(5000));
  ASSERT_TRUE(built) << daemon_.LogText();
  std::string root = LogField(*built, "root");
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  std::string out = Exchange("127.0.0.1", port, "", true, milliseconds(10000));

  EXPECT_NE(out.find("ALLOWED spool\n"), std::string::npos) << out << daemon_.LogText();
  for (const char* what : {"write /", "write /etc", "write /dev", "write /bin", "write /usr",
                           "write /srv", "write /var", "write /var/spool", "overwrite loader",
                           "overwrite libc", "overwrite passwd", "chmod loader",
                           "rename over libc", "mknod mem", "mknod disk"}) {
    EXPECT_NE(out.find(std::string("denied ") + what + "\n"), std::string::npos)
        << what << "\n" << out;
  }
  EXPECT_EQ(out.find("ALLOWED ") , out.find("ALLOWED spool")) << out;
  // And on the host's side: the tree is as built.
  EXPECT_EQ(Slurp(root + libc), Slurp(libc));
  EXPECT_EQ(Slurp(root + loader), Slurp(loader));
  struct stat st {};
  EXPECT_NE(lstat((root + "/var/spool/jt/mem").c_str(), &st), 0);
  EXPECT_NE(lstat((root + "/dev/sda").c_str(), &st), 0);
  ASSERT_EQ(lstat((root + loader).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  daemon_.Stop();
}

}  // namespace
}  // namespace hinetd::testing
