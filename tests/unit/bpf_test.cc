// The user-space cBPF evaluator the policy tests rely on, checked on
// hand-written programs so that a bug in it cannot hide one in a policy.
#include "sandbox/bpf.h"

#include <gtest/gtest.h>
#include <linux/audit.h>

namespace hinetd::sandbox {
namespace {

sock_filter Stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

seccomp_data Data(int nr, uint32_t arch = AUDIT_ARCH_X86_64) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  return d;
}

TEST(RunBpf, LoadCompareReturn) {
  // if (nr == 41) return ERRNO(13); return ALLOW;
  std::vector<sock_filter> prog = {
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      Jump(BPF_JMP | BPF_JEQ | BPF_K, 41, 0, 1),
      Stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 13),
      Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  EXPECT_EQ(*RunBpf(prog, Data(41)), SECCOMP_RET_ERRNO | 13u);
  EXPECT_EQ(*RunBpf(prog, Data(0)), SECCOMP_RET_ALLOW);
}

TEST(RunBpf, ArchAndAluAndScratch) {
  // Store arch in M[0], add 1 via X, return A.
  std::vector<sock_filter> prog = {
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      Stmt(BPF_ST, 0),
      Stmt(BPF_LDX | BPF_IMM, 1),
      Stmt(BPF_LD | BPF_MEM, 0),
      Stmt(BPF_ALU | BPF_ADD | BPF_X, 0),
      Stmt(BPF_RET | BPF_A, 0),
  };
  EXPECT_EQ(*RunBpf(prog, Data(0, 100)), 101u);
}

TEST(RunBpf, JsetAndJgt) {
  std::vector<sock_filter> prog = {
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      Jump(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 2, 0),
      Jump(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1),
      Stmt(BPF_RET | BPF_K, 2),
      Stmt(BPF_RET | BPF_K, 1),
  };
  EXPECT_EQ(*RunBpf(prog, Data(0x40000001)), 1u);  // jset taken: skips 2 -> ret 1
  EXPECT_EQ(*RunBpf(prog, Data(11)), 2u);
  EXPECT_EQ(*RunBpf(prog, Data(5)), 1u);
}

TEST(RunBpf, MalformedProgramsAreErrors) {
  EXPECT_FALSE(RunBpf({Stmt(BPF_LD | BPF_W | BPF_ABS, 2)}, Data(0)).ok());  // unaligned
  EXPECT_FALSE(RunBpf({Stmt(BPF_LD | BPF_W | BPF_ABS, 4096)}, Data(0)).ok());
  EXPECT_FALSE(RunBpf({Stmt(BPF_ALU | BPF_DIV | BPF_K, 0)}, Data(0)).ok());
  EXPECT_FALSE(RunBpf({Stmt(BPF_LD | BPF_IMM, 1)}, Data(0)).ok());  // runs off the end
  EXPECT_FALSE(RunBpf({}, Data(0)).ok());
}

}  // namespace
}  // namespace hinetd::sandbox
