#include "sandbox/merge.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "sandbox/bpf.h"

namespace hinetd::sandbox {

using base::Error;
using base::Result;
using base::Status;

namespace {

using Program = std::vector<sock_filter>;

constexpr uint16_t kLoad = BPF_LD | BPF_W | BPF_ABS;
constexpr uint16_t kAnd = BPF_ALU | BPF_AND | BPF_K;
constexpr uint16_t kJump = BPF_JMP | BPF_JA;
constexpr uint16_t kReturn = BPF_RET | BPF_K;
constexpr uint32_t kNrOffset = offsetof(seccomp_data, nr);
// Bound on the steps of one walk through a program's paths.
constexpr size_t kMaxSteps = 1 << 20;

int32_t ActionOf(uint32_t verdict) {
  return static_cast<int32_t>(verdict & SECCOMP_RET_ACTION_FULL);
}

bool IsCondJump(uint16_t code) {
  return code == (BPF_JMP | BPF_JEQ | BPF_K) || code == (BPF_JMP | BPF_JGT | BPF_K) ||
         code == (BPF_JMP | BPF_JGE | BPF_K) || code == (BPF_JMP | BPF_JSET | BPF_K);
}

bool Taken(const sock_filter& in, uint32_t a) {
  switch (BPF_OP(in.code)) {
    case BPF_JEQ: return a == in.k;
    case BPF_JGT: return a > in.k;
    case BPF_JGE: return a >= in.k;
    default: return (a & in.k) != 0;  // BPF_JSET
  }
}

sock_filter Insn(uint16_t code, uint32_t k, uint8_t jt = 0, uint8_t jf = 0) {
  return sock_filter{code, jt, jf, k};
}

Status CheckShape(const Program& p, const char* which) {
  auto refuse = [&](size_t pc, const std::string& why) {
    return Error(std::string(which) + ", instruction " + std::to_string(pc) + ": " + why);
  };
  if (p.empty() || p.size() > BPF_MAXINSNS) return Error(std::string(which) + ": empty or too long");
  // A is 0 when a filter starts, and a slice starts after a load of the
  // syscall number: a program must load before it compares.
  if (p[0].code != kLoad) return refuse(0, "not a load");
  if (p.back().code != kReturn) return refuse(p.size() - 1, "not a return of a constant");
  for (size_t pc = 0; pc < p.size(); ++pc) {
    const sock_filter& in = p[pc];
    size_t left = p.size() - pc - 1;  // instructions after this one
    if (in.code == kLoad) {
      if (in.k % 4 != 0 || in.k + 4 > sizeof(seccomp_data)) {
        return refuse(pc, "a load outside seccomp_data");
      }
    } else if (in.code == kJump) {
      if (in.k >= left) return refuse(pc, "a jump out of the program");
    } else if (IsCondJump(in.code)) {
      if (std::max(in.jt, in.jf) >= left) return refuse(pc, "a jump out of the program");
    } else if (in.code != kAnd && in.code != kReturn) {
      return refuse(pc, "an instruction the merge does not handle");
    }
  }
  return Status();
}

struct Interval {
  uint32_t lo;
  uint32_t hi;
};

// The values of `i` for which comparison `in` holds (`yes`) and fails (`no`).
void Split(const sock_filter& in, Interval i, std::vector<Interval>& yes,
           std::vector<Interval>& no) {
  uint32_t k = in.k;
  switch (BPF_OP(in.code)) {
    case BPF_JEQ:
      if (k < i.lo || k > i.hi) {
        no.push_back(i);
        return;
      }
      yes.push_back({k, k});
      if (k > i.lo) no.push_back({i.lo, k - 1});
      if (k < i.hi) no.push_back({k + 1, i.hi});
      return;
    case BPF_JGT:  // A > k
      if (i.hi <= k) {
        no.push_back(i);
      } else if (i.lo > k) {
        yes.push_back(i);
      } else {
        no.push_back({i.lo, k});
        yes.push_back({k + 1, i.hi});
      }
      return;
    default:  // BPF_JGE: A >= k
      if (i.hi < k) {
        no.push_back(i);
      } else if (i.lo >= k) {
        yes.push_back(i);
      } else {
        no.push_back({i.lo, k - 1});
        yes.push_back({k, i.hi});
      }
      return;
  }
}

// A box of inputs: the syscall numbers and the architectures (the
// arguments are never narrowed: a comparison of one goes both ways).
struct Box {
  Interval nr;
  Interval arch;
};

constexpr Interval kAll = {0, std::numeric_limits<uint32_t>::max()};
constexpr uint32_t kArchOffset = offsetof(seccomp_data, arch);

// Walks every path of `p` from its start over the inputs of `box`, the
// syscall number and the architecture each an interval narrowed by the
// comparisons on the way, and calls at(pc, box) at every return reached
// with the box of inputs that reach it that way. An error if `p` masks or
// tests bits of either (no interval then), or has too many paths.
template <typename At>
Status Explore(const Program& p, Box box, At at) {
  enum class Held { kConst, kNr, kArch, kOther };
  struct Path {
    size_t pc;
    Held held;
    uint32_t value;
    Box box;
  };
  std::vector<Path> todo{{0, Held::kConst, 0, box}};
  // Paths that meet again at an instruction knowing the same go on as one
  // (joins after each way of failing a comparison would otherwise
  // multiply the paths with every rule that has them).
  std::set<std::tuple<size_t, Held, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t>> seen;
  size_t steps = 0;
  while (!todo.empty()) {
    Path s = todo.back();
    todo.pop_back();
    uint32_t value = s.held == Held::kConst ? s.value : 0;
    if (!seen.emplace(s.pc, s.held, value, s.box.nr.lo, s.box.nr.hi, s.box.arch.lo, s.box.arch.hi)
             .second) {
      continue;
    }
    for (bool going = true; going;) {
      if (++steps > kMaxSteps) return Error("too many paths");
      const sock_filter& in = p[s.pc];
      if (in.code == kLoad) {
        s.held = in.k == kNrOffset ? Held::kNr : in.k == kArchOffset ? Held::kArch : Held::kOther;
        ++s.pc;
      } else if (in.code == kAnd) {
        if (s.held == Held::kNr || s.held == Held::kArch) {
          return Error("the syscall number or the architecture masked");
        }
        if (s.held == Held::kConst) s.value &= in.k;
        ++s.pc;
      } else if (in.code == kJump) {
        s.pc += 1 + in.k;
      } else if (IsCondJump(in.code)) {
        size_t yes_pc = s.pc + 1 + in.jt;
        size_t no_pc = s.pc + 1 + in.jf;
        if (s.held == Held::kConst) {
          s.pc = Taken(in, s.value) ? yes_pc : no_pc;
        } else if (s.held == Held::kOther) {
          todo.push_back({no_pc, s.held, s.value, s.box});
          todo.push_back({yes_pc, s.held, s.value, s.box});
          going = false;
        } else {
          if (BPF_OP(in.code) == BPF_JSET) {
            return Error("bits of the syscall number or the architecture tested");
          }
          Interval& narrowed = s.held == Held::kNr ? s.box.nr : s.box.arch;
          std::vector<Interval> yes, no;
          Split(in, narrowed, yes, no);
          for (const Interval& i : no) {
            narrowed = i;
            todo.push_back({no_pc, s.held, s.value, s.box});
          }
          for (const Interval& i : yes) {
            narrowed = i;
            todo.push_back({yes_pc, s.held, s.value, s.box});
          }
          going = false;
        }
      } else {  // a return
        at(s.pc, s.box);
        going = false;
      }
    }
  }
  return Status();
}

// Appends `p` specialised for syscall number `nr`, every return K of it
// replaced by verdict(K). A walk from an instruction folds what the
// number and constants decide and stops at the first instruction it must
// keep: a load of anything but the number, an AND or a comparison of such
// a load, a return. Each kept instruction is the same whatever the walk
// that reached it, so there is one per instruction of `p` at most, laid
// out in its order (every jump goes forward).
template <typename Verdict>
Status AppendSlice(const Program& p, uint32_t nr, Verdict verdict, Program& out) {
  auto walk = [&](size_t pc, bool known, uint32_t value) {
    for (;;) {
      const sock_filter& in = p[pc];
      if (in.code == kLoad) {
        if (in.k != kNrOffset) return pc;
        known = true;
        value = nr;
        ++pc;
      } else if (in.code == kAnd) {
        if (!known) return pc;
        value &= in.k;
        ++pc;
      } else if (in.code == kJump) {
        pc += 1 + in.k;
      } else if (IsCondJump(in.code)) {
        if (!known) return pc;
        pc += 1 + (Taken(in, value) ? in.jt : in.jf);
      } else {
        return pc;  // a return
      }
    }
  };
  struct Kept {
    size_t next = 0;  // a load's or an AND's successor, a comparison's if true
    size_t no = 0;    // a comparison's if false
  };
  std::map<size_t, Kept> kept;  // by instruction of p
  size_t entry = walk(0, true, 0);
  std::vector<size_t> todo = {entry};
  while (!todo.empty()) {
    size_t pc = todo.back();
    todo.pop_back();
    if (kept.count(pc) != 0) continue;
    const sock_filter& in = p[pc];
    Kept k;
    if (in.code == kLoad || in.code == kAnd) {
      k.next = walk(pc + 1, false, 0);
      todo.push_back(k.next);
    } else if (IsCondJump(in.code)) {
      k.next = walk(pc + 1 + in.jt, false, 0);
      k.no = walk(pc + 1 + in.jf, false, 0);
      todo.push_back(k.next);
      todo.push_back(k.no);
    }
    kept[pc] = k;
  }
  if (kept.begin()->first != entry) return Error("a slice that does not start at its entry");
  // Where each kept instruction goes; a load or an AND whose successor is
  // not the next one gets a jump after it.
  std::map<size_t, size_t> at;
  size_t n = out.size();
  for (auto it = kept.begin(); it != kept.end(); ++it) {
    at[it->first] = n++;
    uint16_t code = p[it->first].code;
    auto following = std::next(it);
    if ((code == kLoad || code == kAnd) &&
        (following == kept.end() || following->first != it->second.next)) {
      ++n;
    }
  }
  for (const auto& [pc, k] : kept) {
    const sock_filter& in = p[pc];
    size_t here = out.size();
    if (in.code == kReturn) {
      out.push_back(Insn(kReturn, verdict(in.k)));
    } else if (IsCondJump(in.code)) {
      size_t yes = at[k.next] - here - 1;
      size_t no = at[k.no] - here - 1;
      if (yes > 255 || no > 255) return Error("a slice's jump is too long");
      out.push_back(Insn(in.code, in.k, static_cast<uint8_t>(yes), static_cast<uint8_t>(no)));
    } else {
      out.push_back(in);
      if (out.size() != at[k.next]) {
        out.push_back(Insn(kJump, static_cast<uint32_t>(at[k.next] - out.size() - 1)));
      }
    }
  }
  return Status();
}

// M against the two on the inputs where their comparisons change: every
// constant either compares or masks, and its neighbours, as the syscall
// number; the native and another architecture; the arguments all zero,
// all ones, and (for the numbers the first program treats apart) each of
// the first program's constants.
Status Verify(const Program& first, const Program& second, const Program& merged,
              const std::set<uint32_t>& apart) {
  std::set<uint32_t> numbers = {0, 1, std::numeric_limits<uint32_t>::max()};
  std::set<uint32_t> first_constants = {0, std::numeric_limits<uint32_t>::max()};
  for (const Program* p : {&first, &second}) {
    for (const sock_filter& in : *p) {
      if (!IsCondJump(in.code) && in.code != kAnd) continue;
      for (uint32_t v : {in.k - 1, in.k, in.k + 1}) {
        numbers.insert(v);
        if (p == &first) first_constants.insert(v);
      }
    }
  }
  std::vector<uint32_t> arches = {NativeAuditArch(), AUDIT_ARCH_I386, 0};
  seccomp_data d{};
  for (uint32_t arch : arches) {
    for (uint32_t nr : numbers) {
      const std::set<uint32_t>& values =
          apart.count(nr) != 0 ? first_constants : std::set<uint32_t>{0, ~0U};
      for (uint32_t v : values) {
        d.nr = static_cast<int>(nr);
        d.arch = arch;
        d.instruction_pointer = 0;
        for (auto& arg : d.args) arg = (static_cast<uint64_t>(v) << 32) | v;
        auto a = RunBpf(first, d);
        auto b = RunBpf(second, d);
        auto m = RunBpf(merged, d);
        if (!a.ok() || !b.ok() || !m.ok()) return Error("a program the interpreter refuses");
        if (*m != CombineVerdicts(*a, *b)) {
          return Error("the merged program differs from the two for syscall " +
                       std::to_string(nr));
        }
      }
    }
  }
  return Status();
}

}  // namespace

uint32_t CombineVerdicts(uint32_t older, uint32_t newer) {
  return ActionOf(older) < ActionOf(newer) ? older : newer;
}

Result<std::unique_ptr<BpfProgram>> MergeFilters(const BpfProgram& first_program,
                                                 const BpfProgram& second_program) {
  const Program& first = first_program.insns();
  const Program& second = second_program.insns();
  if (auto s = CheckShape(first, "the first program"); !s.ok()) return s.error();
  if (auto s = CheckShape(second, "the second program"); !s.ok()) return s.error();
  // The second program is the frame: its dispatch on the syscall number
  // decides, and at each of its returns what the first would say on the
  // inputs that reach it is folded in. A return whose verdict takes
  // precedence over (or ties with) every one of the first's stays.
  std::vector<uint32_t> first_verdicts;
  for (const sock_filter& in : first) {
    if (in.code == kReturn) first_verdicts.push_back(in.k);
  }
  auto stays = [&](uint32_t second_verdict) {
    return std::all_of(first_verdicts.begin(), first_verdicts.end(), [&](uint32_t k) {
      return CombineVerdicts(k, second_verdict) == second_verdict;
    });
  };
  std::map<size_t, std::vector<Box>> reached;  // the second's returns that may change
  Status explored = Explore(second, Box{kAll, kAll}, [&](size_t pc, const Box& box) {
    if (!stays(second[pc].k)) reached[pc].push_back(box);
  });
  if (!explored.ok()) return explored.error().Wrap("the second program");

  Program merged = second;
  std::set<uint32_t> apart;  // numbers given a slice of the first
  for (const auto& [pc, boxes] : reached) {
    uint32_t verdict = second[pc].k;
    auto combined = [&](uint32_t k) { return CombineVerdicts(k, verdict); };
    // What the first returns over each box, combined with this verdict,
    // by the numbers it returns it for: on a range of them, one verdict
    // for all such ranges (folded into this return), or no merge; for a
    // number alone, the same, or a slice of the first for that number
    // (also where it looks further, at the arguments).
    struct Found {
      std::set<uint32_t> on_ranges;
      std::map<uint32_t, std::set<uint32_t>> by_number;
    };
    std::vector<Found> found;
    for (const Box& box : boxes) {
      Found f;
      Status s = Explore(first, box, [&](size_t first_pc, const Box& at) {
        uint32_t v = combined(first[first_pc].k);
        if (at.nr.lo == at.nr.hi) {
          f.by_number[at.nr.lo].insert(v);
        } else {
          f.on_ranges.insert(v);
        }
      });
      if (!s.ok()) return s.error().Wrap("the first program");
      found.push_back(std::move(f));
    }
    std::optional<uint32_t> others;
    for (const Found& f : found) {
      for (uint32_t v : f.on_ranges) {
        if (others && *others != v) {
          return Error("the first program decides a range of syscall numbers apart, at the "
                       "second's instruction " + std::to_string(pc));
        }
        others = v;
      }
    }
    std::map<uint32_t, bool> own_numbers;  // numbers given a slice of the first
    for (const Found& f : found) {
      for (const auto& [nr, verdicts] : f.by_number) {
        if (verdicts.size() == 1 && (!others || *others == *verdicts.begin())) {
          others = *verdicts.begin();
        } else {
          own_numbers[nr] = true;
        }
      }
    }
    if (own_numbers.empty()) {
      merged[pc] = Insn(kReturn, others.value_or(SECCOMP_RET_KILL_PROCESS));
      continue;
    }
    // LD nr; for each number: JEQ n, 0, 1; JA slice; then the verdict of
    // the other boxes (KILL_PROCESS if there are none: unreachable).
    merged[pc] = Insn(kJump, static_cast<uint32_t>(merged.size() - pc - 1));
    merged.push_back(Insn(kLoad, kNrOffset));
    size_t table = merged.size();
    for (const auto& [nr, unused] : own_numbers) {
      merged.push_back(Insn(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
      merged.push_back(Insn(kJump, 0));
      apart.insert(nr);
    }
    merged.push_back(Insn(kReturn, others.value_or(SECCOMP_RET_KILL_PROCESS)));
    size_t i = 0;
    for (const auto& [nr, unused] : own_numbers) {
      size_t jump = table + 2 * i + 1;
      merged[jump].k = static_cast<uint32_t>(merged.size() - jump - 1);
      if (auto s = AppendSlice(first, nr, combined, merged); !s.ok()) return s.error();
      ++i;
    }
  }
  if (merged.size() > BPF_MAXINSNS) return Error("the merged program is too long");
  if (auto s = Verify(first, second, merged, apart); !s.ok()) return s.error();
  return std::make_unique<BpfProgram>(std::move(merged));
}

}  // namespace hinetd::sandbox
