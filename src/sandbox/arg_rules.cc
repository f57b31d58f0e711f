#include "sandbox/arg_rules.h"

#include <cctype>
#include <cstdlib>
#include <optional>

#include "sandbox/syscall_args.h"

namespace hinetd::sandbox {

using base::Error;
using base::Result;

namespace {

constexpr uint64_t kLow32 = 0xffffffffu;

struct Token {
  enum Kind { kIdent, kNumber, kOp, kEnd } kind;
  std::string text;
  size_t pos;  // 0-based offset in the condition
};

// A parse error at 0-based `pos` of the condition.
Error At(size_t pos, const std::string& message) {
  return Error(base::SourceLoc{"", 1, static_cast<int>(pos) + 1}, message);
}

Result<std::vector<Token>> Tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
      out.push_back({Token::kIdent, std::string(s.substr(start, i - start)), start});
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = i;
      while (i < s.size() && std::isalnum(static_cast<unsigned char>(s[i]))) ++i;
      out.push_back({Token::kNumber, std::string(s.substr(start, i - start)), start});
      continue;
    }
    for (std::string_view op : {"&&", "==", "!=", "<=", ">=", "<", ">", "&", "|", "(", ")", "-"}) {
      if (s.substr(i, op.size()) == op) {
        out.push_back({Token::kOp, std::string(op), i});
        i += op.size();
        goto next;
      }
    }
    return At(i, std::string("unexpected '") + c +
                     "' (a condition reads like \"family == AF_UNIX\" or "
                     "\"prot & PROT_EXEC == 0\")");
  next:;
  }
  out.push_back({Token::kEnd, "", s.size()});
  return out;
}

class Parser {
 public:
  Parser(const std::string& syscall, const std::vector<ArgInfo>* args, std::vector<Token> tokens)
      : syscall_(syscall), args_(args), tokens_(std::move(tokens)) {}

  Result<std::vector<ArgCondition>> Parse() {
    std::vector<ArgCondition> result{ArgCondition{}};
    for (;;) {
      size_t clause_pos = Peek().pos;
      auto clause = Clause();
      if (!clause.ok()) return clause.error();
      // AND: every alternative so far with every alternative of the clause.
      std::vector<ArgCondition> product;
      for (const auto& left : result) {
        for (const auto& right : *clause) {
          auto merged = Merge(left, right, clause_pos);
          if (!merged.ok()) return merged.error();
          if (*merged) product.push_back(**merged);
          if (product.size() > kMaxAlternatives) {
            return At(clause_pos, "this condition expands to more than " +
                                      std::to_string(kMaxAlternatives) +
                                      " rules; split it into several `when` entries");
          }
        }
      }
      result = std::move(product);
      if (Peek().kind == Token::kEnd) break;
      if (Peek().text != "&&") {
        return At(Peek().pos, "expected \"&&\" or the end of the condition, got '" +
                                  Peek().text + "'");
      }
      ++at_;
    }
    if (result.empty()) {
      return At(0, "this condition can never hold (its comparisons contradict each other)");
    }
    return result;
  }

 private:
  const Token& Peek() const { return tokens_[at_]; }

  // One comparison: ARG [& VALUE] OP VALUE -> alternatives.
  Result<std::vector<ArgCondition>> Clause() {
    const Token& name = Peek();
    if (name.kind != Token::kIdent) {
      return At(name.pos, "expected an argument name" + ArgNames() + ", got '" + name.text + "'");
    }
    auto index = ArgIndex(name);
    if (!index.ok()) return index.error();
    ++at_;
    ArgKind kind = ArgKind::k64;
    if (args_ != nullptr && static_cast<size_t>(*index) < args_->size()) {
      kind = (*args_)[*index].kind;
    }
    std::optional<uint64_t> mask;
    size_t mask_pos = 0;
    if (Peek().text == "&") {
      ++at_;
      mask_pos = Peek().pos;
      auto m = Value();
      if (!m.ok()) return m.error();
      mask = *m;
    }
    const Token& op_token = Peek();
    static const std::pair<const char*, CompareOp> kOps[] = {
        {"==", CompareOp::kEq}, {"!=", CompareOp::kNe}, {"<", CompareOp::kLt},
        {"<=", CompareOp::kLe}, {">", CompareOp::kGt},  {">=", CompareOp::kGe}};
    std::optional<CompareOp> op;
    for (const auto& [text, o] : kOps) {
      if (op_token.text == text) op = o;
    }
    if (!op) {
      return At(op_token.pos, "expected a comparison (==, !=, <, <=, >, >=) after '" +
                                  name.text + "', got '" + op_token.text + "'");
    }
    ++at_;
    size_t value_pos = Peek().pos;
    auto value = Value();
    if (!value.ok()) return value.error();
    uint64_t v = *value;
    const std::string& arg = name.text;

    if (mask) {
      uint64_t m = *mask;
      if (kind == ArgKind::k32) {
        if ((m & ~kLow32) != 0) {
          return At(mask_pos, "'" + arg + "' is a 32-bit argument; this mask has bits above "
                                          "the lower 32, which the kernel ignores");
        }
        v &= kLow32;
      }
      if (m == 0) return At(mask_pos, "a mask of 0 compares nothing");
      if (*op == CompareOp::kEq) {
        if ((v & ~m) != 0) {
          return At(value_pos, "'" + arg + " & MASK' can never equal a value with bits "
                                           "outside MASK");
        }
        return std::vector<ArgCondition>{{{{*index, CompareOp::kMaskedEq, m, v}}}};
      }
      if (*op == CompareOp::kNe) {
        // Differs from v on some bit of the mask: one alternative per bit.
        std::vector<ArgCondition> alternatives;
        for (int bit = 0; bit < 64; ++bit) {
          uint64_t b = uint64_t{1} << bit;
          if ((m & b) == 0) continue;
          alternatives.push_back({{{*index, CompareOp::kMaskedEq, b, (v & b) ^ b}}});
        }
        if (alternatives.size() > kMaxAlternatives) {
          return At(mask_pos, "this mask has more than " + std::to_string(kMaxAlternatives) +
                                  " bits; != expands to one rule per bit");
        }
        return alternatives;
      }
      return At(op_token.pos, "after a mask, only == and != compare (\"" + arg +
                                  " & MASK == VALUE\")");
    }
    if (kind == ArgKind::k32) {
      // The kernel reads the lower half; the upper half is the caller's to set.
      switch (*op) {
        case CompareOp::kEq:
          return std::vector<ArgCondition>{{{{*index, CompareOp::kMaskedEq, kLow32, v & kLow32}}}};
        case CompareOp::kLt:
        case CompareOp::kLe:
          // Compared on all 64 bits: a call with any upper bit set fails,
          // so what passes is exactly what the kernel sees as passing.
          if ((v & ~kLow32) != 0 || (v & 0x80000000u) != 0) {
            return At(value_pos, "'" + arg + "' is a 32-bit argument; compare it with a value "
                                             "from 0 to 2147483647 (comparisons are unsigned)");
          }
          return std::vector<ArgCondition>{{{{*index, *op, 0, v}}}};
        default:
          return At(op_token.pos,
                    "'" + arg + "' is a 32-bit argument: the kernel ignores its upper 32 bits, "
                    "which a caller can set to pass " + op_token.text +
                    " while the kernel sees another value; use == (one `when` entry per "
                    "value allowed), < or <=, or a mask (\"" + arg + " & MASK == VALUE\")");
      }
    }
    return std::vector<ArgCondition>{{{{*index, *op, 0, v}}}};
  }

  // VALUE: TERM ('|' TERM)*; TERM: NUMBER | CONSTANT | -NUMBER | ( VALUE )
  Result<uint64_t> Value() {
    auto first = Term();
    if (!first.ok()) return first.error();
    uint64_t v = *first;
    while (Peek().text == "|") {
      ++at_;
      auto next = Term();
      if (!next.ok()) return next.error();
      v |= *next;
    }
    return v;
  }

  Result<uint64_t> Term() {
    const Token& t = Peek();
    if (t.text == "(") {
      // Bounded: each level is a stack frame of this parser (a policy file
      // of nothing but '(' overflowed the stack; found by fuzz_values).
      if (depth_ >= kMaxDepth) {
        return At(t.pos, "parentheses nested deeper than " + std::to_string(kMaxDepth));
      }
      ++at_;
      ++depth_;
      auto v = Value();
      --depth_;
      if (!v.ok()) return v.error();
      if (Peek().text != ")") return At(Peek().pos, "expected ')', got '" + Peek().text + "'");
      ++at_;
      return v;
    }
    if (t.text == "-") {
      ++at_;
      if (Peek().kind != Token::kNumber) {
        return At(Peek().pos, "expected a number after '-'");
      }
      auto n = Number(Peek());
      if (!n.ok()) return n.error();
      ++at_;
      // Two's complement, in unsigned arithmetic: "-9223372036854775808"
      // (INT64_MIN) has no positive int64_t to negate.
      return uint64_t{0} - *n;
    }
    if (t.kind == Token::kNumber) {
      auto n = Number(t);
      if (!n.ok()) return n.error();
      ++at_;
      return n;
    }
    if (t.kind == Token::kIdent) {
      auto c = NamedConstant(t.text);
      if (!c) {
        return At(t.pos, "unknown constant '" + t.text + "' (hinetd knows " +
                             ConstantFamilies() + "; or write the number)");
      }
      ++at_;
      return *c;
    }
    return At(t.pos, "expected a number or a constant, got '" + t.text + "'");
  }

  static Result<uint64_t> Number(const Token& t) {
    const std::string& s = t.text;
    int base = 10;
    size_t skip = 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      base = 16;
      skip = 2;
    } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
      base = 8;
      skip = 2;
    }
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str() + skip, &end, base);
    if (errno != 0 || end != s.c_str() + s.size() || skip == s.size()) {
      return At(t.pos, "'" + s + "' is not a number (decimal, 0x hexadecimal or 0o octal)");
    }
    return static_cast<uint64_t>(v);
  }

  Result<int> ArgIndex(const Token& t) {
    if (args_ != nullptr) {
      for (size_t i = 0; i < args_->size(); ++i) {
        if ((*args_)[i].name != t.text && t.text != "arg" + std::to_string(i)) continue;
        if ((*args_)[i].kind == ArgKind::kPointer) {
          return At(t.pos, "argument '" + (*args_)[i].name + "' of " + syscall_ +
                               " is a pointer: a filter sees the address, not what it "
                               "points to, so a rule on it decides nothing");
        }
        return static_cast<int>(i);
      }
      return At(t.pos, "" + syscall_ + " has no argument '" + t.text + "'" + ArgNames());
    }
    // No argument list: only argN, and nothing can be checked about it.
    if (t.text.size() == 4 && t.text.starts_with("arg") && t.text[3] >= '0' && t.text[3] <= '5') {
      return At(t.pos, "hinetd does not know the arguments of " + syscall_ +
                           ", so it cannot tell whether arg" + t.text.substr(3) +
                           " is a number or a pointer; argument rules are for syscalls in "
                           "src/sandbox/syscall_args.inc");
    }
    return At(t.pos, "hinetd does not know the arguments of " + syscall_);
  }

  std::string ArgNames() const {
    if (args_ == nullptr) return "";
    std::string out;
    for (size_t i = 0; i < args_->size(); ++i) {
      out += (out.empty() ? "" : ", ") + (*args_)[i].name;
      if ((*args_)[i].kind == ArgKind::kPointer) out += " (pointer)";
    }
    return " (" + syscall_ + "(" + out + "), or arg0..arg" +
           std::to_string(args_->empty() ? 0 : args_->size() - 1) + ")";
  }

  // The conjunction of two alternatives; nullopt when it can never hold.
  Result<std::optional<ArgCondition>> Merge(const ArgCondition& a, const ArgCondition& b,
                                            size_t pos) const {
    ArgCondition out = a;
    for (const ArgCompare& c : b.all) {
      bool merged = false;
      for (ArgCompare& have : out.all) {
        if (have.arg != c.arg) continue;
        if (have.op != CompareOp::kMaskedEq || c.op != CompareOp::kMaskedEq) {
          return At(pos, "two comparisons of " + ArgName(c.arg) +
                             " in one condition: a filter rule compares each argument once; "
                             "combine them into one mask, or write two `when` entries");
        }
        // Both masked equalities: one mask, if they agree where they overlap.
        uint64_t common = have.mask & c.mask;
        if ((have.value & common) != (c.value & common)) return std::optional<ArgCondition>();
        have.mask |= c.mask;
        have.value |= c.value;
        merged = true;
      }
      if (!merged) out.all.push_back(c);
    }
    return std::optional<ArgCondition>(out);
  }

  std::string ArgName(int i) const {
    if (args_ != nullptr && static_cast<size_t>(i) < args_->size()) return "'" + (*args_)[i].name + "'";
    return "arg" + std::to_string(i);
  }

  const std::string& syscall_;
  const std::vector<ArgInfo>* args_;
  static constexpr int kMaxDepth = 16;
  std::vector<Token> tokens_;
  size_t at_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<std::vector<ArgCondition>> ParseCondition(const std::string& syscall,
                                                 std::string_view text) {
  auto tokens = Tokenize(text);
  if (!tokens.ok()) return tokens.error();
  if (tokens->size() == 1) return At(0, "empty condition (e.g. \"family == AF_UNIX\")");
  Parser parser(syscall, SyscallArgs(syscall), std::move(*tokens));
  return parser.Parse();
}

std::string ToString(const std::string& syscall, const ArgCondition& condition) {
  const auto* args = SyscallArgs(syscall);
  std::string out;
  for (const ArgCompare& c : condition.all) {
    std::string name = args != nullptr && static_cast<size_t>(c.arg) < args->size()
                           ? (*args)[c.arg].name
                           : "arg" + std::to_string(c.arg);
    if (!out.empty()) out += " && ";
    switch (c.op) {
      case CompareOp::kMaskedEq:
        if (c.mask == kLow32 && args != nullptr && static_cast<size_t>(c.arg) < args->size() &&
            (*args)[c.arg].kind == ArgKind::k32) {
          out += name + " == " + DescribeValue(syscall, c.arg, c.value);
        } else {
          out += name + " & " + DescribeValue(syscall, c.arg, c.mask) + " == " +
                 DescribeValue(syscall, c.arg, c.value);
        }
        break;
      case CompareOp::kEq: out += name + " == " + DescribeValue(syscall, c.arg, c.value); break;
      case CompareOp::kNe: out += name + " != " + DescribeValue(syscall, c.arg, c.value); break;
      case CompareOp::kLt: out += name + " < " + std::to_string(c.value); break;
      case CompareOp::kLe: out += name + " <= " + std::to_string(c.value); break;
      case CompareOp::kGt: out += name + " > " + std::to_string(c.value); break;
      case CompareOp::kGe: out += name + " >= " + std::to_string(c.value); break;
    }
  }
  return out;
}

}  // namespace hinetd::sandbox
