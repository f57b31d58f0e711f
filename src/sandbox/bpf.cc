#include "sandbox/bpf.h"

#include <linux/audit.h>

#include <cstring>

namespace hinetd::sandbox {

using base::Error;
using base::Result;

uint32_t NativeAuditArch() {
#if defined(__x86_64__)
  return AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  return AUDIT_ARCH_AARCH64;
#elif defined(__i386__)
  return AUDIT_ARCH_I386;
#elif defined(__riscv) && __riscv_xlen == 64
  return AUDIT_ARCH_RISCV64;
#else
#error "unsupported architecture: add its AUDIT_ARCH_* here"
#endif
}

Result<uint32_t> RunBpf(const std::vector<sock_filter>& program, const seccomp_data& data) {
  // The input is the seccomp_data struct viewed as 32-bit words, as the
  // kernel presents it (BPF_ABS loads at byte offsets, native endianness).
  uint8_t input[sizeof(seccomp_data)];
  std::memcpy(input, &data, sizeof input);
  uint32_t a = 0;
  uint32_t x = 0;
  uint32_t mem[BPF_MEMWORDS] = {};
  size_t pc = 0;
  // Seccomp programs can only jump forward, so the loop ends within
  // program.size() steps.
  for (size_t steps = 0; steps <= program.size() && pc < program.size(); ++steps) {
    const sock_filter& in = program[pc++];
    uint16_t cls = BPF_CLASS(in.code);
    switch (cls) {
      case BPF_LD: {
        if (BPF_MODE(in.code) == BPF_ABS && BPF_SIZE(in.code) == BPF_W) {
          if (in.k % 4 != 0 || in.k + 4 > sizeof input) return Error("bpf: bad load offset");
          std::memcpy(&a, input + in.k, 4);
        } else if (BPF_MODE(in.code) == BPF_IMM) {
          a = in.k;
        } else if (BPF_MODE(in.code) == BPF_MEM) {
          if (in.k >= BPF_MEMWORDS) return Error("bpf: bad scratch index");
          a = mem[in.k];
        } else if (BPF_MODE(in.code) == BPF_LEN) {
          a = sizeof input;
        } else {
          return Error("bpf: unsupported load");
        }
        break;
      }
      case BPF_LDX:
        if (BPF_MODE(in.code) == BPF_IMM) {
          x = in.k;
        } else if (BPF_MODE(in.code) == BPF_MEM && in.k < BPF_MEMWORDS) {
          x = mem[in.k];
        } else if (BPF_MODE(in.code) == BPF_LEN) {
          x = sizeof input;
        } else {
          return Error("bpf: unsupported ldx");
        }
        break;
      case BPF_ST:
        if (in.k >= BPF_MEMWORDS) return Error("bpf: bad scratch index");
        mem[in.k] = a;
        break;
      case BPF_STX:
        if (in.k >= BPF_MEMWORDS) return Error("bpf: bad scratch index");
        mem[in.k] = x;
        break;
      case BPF_ALU: {
        uint32_t operand = BPF_SRC(in.code) == BPF_X ? x : in.k;
        switch (BPF_OP(in.code)) {
          case BPF_ADD: a += operand; break;
          case BPF_SUB: a -= operand; break;
          case BPF_MUL: a *= operand; break;
          case BPF_DIV:
            if (operand == 0) return Error("bpf: division by zero");
            a /= operand;
            break;
          case BPF_MOD:
            if (operand == 0) return Error("bpf: division by zero");
            a %= operand;
            break;
          case BPF_AND: a &= operand; break;
          case BPF_OR: a |= operand; break;
          case BPF_XOR: a ^= operand; break;
          case BPF_LSH: a = operand < 32 ? a << operand : 0; break;
          case BPF_RSH: a = operand < 32 ? a >> operand : 0; break;
          case BPF_NEG: a = -a; break;
          default: return Error("bpf: unsupported alu op");
        }
        break;
      }
      case BPF_JMP: {
        if (BPF_OP(in.code) == BPF_JA) {
          pc += in.k;
          break;
        }
        uint32_t operand = BPF_SRC(in.code) == BPF_X ? x : in.k;
        bool taken;
        switch (BPF_OP(in.code)) {
          case BPF_JEQ: taken = a == operand; break;
          case BPF_JGT: taken = a > operand; break;
          case BPF_JGE: taken = a >= operand; break;
          case BPF_JSET: taken = (a & operand) != 0; break;
          default: return Error("bpf: unsupported jump");
        }
        pc += taken ? in.jt : in.jf;
        break;
      }
      case BPF_RET:
        if (BPF_RVAL(in.code) == BPF_K) return in.k;
        if (BPF_RVAL(in.code) == BPF_A) return a;
        return Error("bpf: unsupported return");
      case BPF_MISC:
        if (BPF_MISCOP(in.code) == BPF_TAX) {
          x = a;
        } else {
          a = x;
        }
        break;
      default:
        return Error("bpf: unknown instruction class");
    }
  }
  return Error("bpf: program ran off its end");
}

}  // namespace hinetd::sandbox
