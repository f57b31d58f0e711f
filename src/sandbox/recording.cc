#include "sandbox/recording.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "sandbox/bpf.h"

namespace hinetd::sandbox {

using base::Error;
using base::Result;

namespace {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "HandoffPrefix reads the low half of a 64-bit field first: little-endian only"
#endif

sock_filter Stmt(uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return sock_filter{code, jt, jf, k};
}

struct CtxDeleter {
  void operator()(void* c) const { seccomp_release(c); }
};

}  // namespace

std::vector<sock_filter> HandoffPrefix(const Handoff& h) {
  // Six tests, each jumping to the end of the prefix (the rest of the
  // program) when it fails. A 64-bit field is two 32-bit loads.
  struct Test {
    uint32_t offset;
    uint32_t value;
  };
  const uint64_t fd = static_cast<uint64_t>(static_cast<uint32_t>(h.socket));
  const Test tests[] = {
      {offsetof(seccomp_data, arch), NativeAuditArch()},
      {offsetof(seccomp_data, nr), static_cast<uint32_t>(__NR_sendmsg)},
      {offsetof(seccomp_data, args[0]), static_cast<uint32_t>(fd)},
      {offsetof(seccomp_data, args[0]) + 4, static_cast<uint32_t>(fd >> 32)},
      {offsetof(seccomp_data, instruction_pointer), static_cast<uint32_t>(h.return_address)},
      {offsetof(seccomp_data, instruction_pointer) + 4,
       static_cast<uint32_t>(h.return_address >> 32)},
  };
  constexpr size_t kTests = sizeof tests / sizeof tests[0];
  std::vector<sock_filter> out;
  for (size_t i = 0; i < kTests; ++i) {
    out.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, tests[i].offset));
    // Instructions left after this jump up to the ALLOW: the later tests
    // (two each); one more skips the ALLOW itself.
    auto to_rest = static_cast<uint8_t>(2 * (kTests - 1 - i) + 1);
    out.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, tests[i].value, 0, to_rest));
  }
  out.push_back(Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return out;
}

namespace {

Result<std::unique_ptr<BpfProgram>> Prefixed(const Handoff& handoff,
                                            const std::vector<sock_filter>& rest) {
  std::vector<sock_filter> insns = HandoffPrefix(handoff);
  insns.insert(insns.end(), rest.begin(), rest.end());
  if (insns.size() > BPF_MAXINSNS) {
    return Error("the recording program has " + std::to_string(insns.size()) +
                 " BPF instructions; the kernel accepts at most " + std::to_string(BPF_MAXINSNS));
  }
  return std::make_unique<BpfProgram>(std::move(insns));
}

}  // namespace

Result<std::unique_ptr<BpfProgram>> RecordingProgram(const Handoff& handoff) {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_NOTIFY));
  if (!ctx) return Error("libseccomp: seccomp_init failed");
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc != 0) return base::ErrnoError("libseccomp: filter attributes", -rc);
  auto body = ExportBpf(ctx.get(), "the recording filter");
  if (!body.ok()) return body.error();
  return Prefixed(handoff, (*body)->insns());
}

Result<std::unique_ptr<BpfProgram>> TrialProgram(const BpfProgram& policy,
                                                 const Handoff& handoff) {
  // The policy was compiled with SECCOMP_RET_LOG as its default action, the
  // one action of a policy that allows what it does not list (rules are
  // allow, errno or kill): each return of it becomes USER_NOTIF, nothing
  // else changes. Jumps are relative, so the prefix leaves them valid.
  std::vector<sock_filter> body = policy.insns();
  size_t replaced = 0;
  for (auto& insn : body) {
    if (insn.code == (BPF_RET | BPF_K) && insn.k == SECCOMP_RET_LOG) {
      insn.k = SECCOMP_RET_USER_NOTIF;
      ++replaced;
    }
  }
  if (replaced == 0) return Error("trial mode: the policy's program never returns \"log\"");
  return Prefixed(handoff, body);
}

bool RuntimeAllows(const BpfProgram& runtime, const seccomp_data& call) {
  auto ret = RunBpf(runtime.insns(), call);
  return ret.ok() && (*ret & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW;
}

}  // namespace hinetd::sandbox
