#include "config/toml_reader.h"

#include <algorithm>

#include "config/suggest.h"

namespace hinetd::config {

using base::Error;
using base::Result;
using base::SourceLoc;
using base::Status;

SourceLoc TableReader::Loc(const toml::node& node) const {
  const auto& src = node.source();
  return SourceLoc{file_, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column)};
}

Error TableReader::Err(const toml::node& node, std::string_view key,
                       const std::string& message) const {
  std::string text = context_;
  if (!key.empty()) text += (text.empty() ? "" : ": ") + std::string(key);
  return Error(Loc(node), text + ": " + message);
}

SourceLoc TableReader::Loc(const toml::key& key) const {
  const auto& src = key.source();
  return SourceLoc{file_, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column)};
}

Found Entry(const TableReader& reader, const toml::key& key, const toml::node& node) {
  return Found{&node, &reader, std::string(key.str()), reader.Loc(key)};
}

Status TableReader::CheckKeys(
    const std::vector<std::string>& known,
    const std::vector<std::pair<std::string, std::string>>& misplaced) const {
  // toml++ keeps a table's keys sorted by name, not in file order: report the
  // unknown key written first (line, then column), as a reader scans the file.
  const toml::key* first = nullptr;
  SourceLoc first_loc;
  auto before = [](const SourceLoc& a, const SourceLoc& b) {
    if (b.line == 0) return true;  // a position beats none
    if (a.line == 0) return false;
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  };
  for (auto&& [key, node] : *table_) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    SourceLoc loc = Loc(key);
    if (loc.line == 0) loc = Loc(node);
    if (first == nullptr || before(loc, first_loc)) {
      first = &key;
      first_loc = loc;
    }
  }
  if (first == nullptr) return Status();
  std::string name(first->str());
  std::string message = "unknown key '" + name + "'";
  bool is_misplaced = false;
  for (const auto& [k, why] : misplaced) {
    if (k == name) {
      message = "'" + name + "' " + why;  // the explanation says where it belongs
      is_misplaced = true;
    }
  }
  if (!is_misplaced) {
    std::string close = ClosestMatch(name, known);
    if (!close.empty()) {
      message += " (did you mean '" + close + "'?)";
    } else {
      message += " (valid keys:";
      for (const auto& k : known) message += " " + k;
      message += ")";
    }
  }
  return Error(first_loc, (context_.empty() ? "" : context_ + ": ") + message);
}

const toml::node* TableReader::Find(std::string_view key) const {
  if ((present_ & KeyBit(key)) == 0) return nullptr;
  return table_->get(key);
}

Found Lookup(const std::vector<const TableReader*>& scope, std::string_view key) {
  for (const TableReader* r : scope) {
    if (const toml::node* n = r->Find(key)) return Found{n, r, std::string(key), {}};
  }
  return Found{};  // nothing to report about: no key copied
}

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

Result<std::string> AsString(const Found& f) {
  if (auto v = f.node->value<std::string>(); v && f.node->is_string()) return *v;
  return f.Err("expected a string, got " + TypeName(*f.node));
}

Result<bool> AsBool(const Found& f) {
  if (f.node->is_boolean()) return f.node->as_boolean()->get();
  return f.Err("expected true or false, got " + TypeName(*f.node));
}

Result<int64_t> AsInt(const Found& f, int64_t min, int64_t max) {
  if (!f.node->is_integer()) return f.Err("expected an integer, got " + TypeName(*f.node));
  int64_t v = f.node->as_integer()->get();
  if (v < min || v > max) {
    return f.Err(std::to_string(v) + " is out of range (expected " + std::to_string(min) +
                 " to " + std::to_string(max) + ")");
  }
  return v;
}

Result<std::vector<StringItem>> AsStringArray(const Found& f) {
  const toml::array* arr = f.node->as_array();
  if (arr == nullptr) return f.Err("expected an array of strings, got " + TypeName(*f.node));
  std::vector<StringItem> out;
  for (const toml::node& el : *arr) {
    if (!el.is_string()) {
      return f.reader->Err(el, f.key, "expected an array of strings, but an element is " +
                                          TypeName(el));
    }
    out.push_back({el.as_string()->get(), f.reader->Loc(el)});
  }
  return out;
}

Result<std::vector<StringItem>> AsStringOrArray(const Found& f) {
  if (f.node->is_string()) {
    return std::vector<StringItem>{{f.node->as_string()->get(), f.Loc()}};
  }
  if (!f.node->is_array()) {
    return f.Err("expected a string or an array of strings, got " + TypeName(*f.node));
  }
  return AsStringArray(f);
}

Result<toml::table> ParseToml(std::string_view text, const std::string& file) {
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    return Error(SourceLoc{file, static_cast<int>(src.begin.line),
                           static_cast<int>(src.begin.column)},
                 "TOML syntax error: " + std::string(e.description()));
  }
}

}  // namespace hinetd::config
