// Typed access to a toml++ table with positions in every error, and the
// unknown-key check. Private to the config module: nothing outside it sees
// toml++ (and the child path never links it).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hinetd::config {

// A table and how errors about it are introduced: `context` is e.g.
// "service \"echo\"" or "[daemon]" or "policy \"stdio\"".
class TableReader {
 public:
  TableReader(const toml::table& table, std::string file, std::string context)
      : table_(&table), file_(std::move(file)), context_(std::move(context)) {
    for (auto&& [key, node] : table) present_ |= KeyBit(key.str());
  }

  // The key not in `known` that is written first in the file (line, then
  // column), as an error with a did-you-mean. A key in `misplaced` is valid
  // elsewhere; its error is the given explanation.
  [[nodiscard]] base::Status CheckKeys(
      const std::vector<std::string>& known,
      const std::vector<std::pair<std::string, std::string>>& misplaced = {}) const;

  [[nodiscard]] const toml::node* Find(std::string_view key) const;
  [[nodiscard]] const toml::table& table() const { return *table_; }
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] const std::string& context() const { return context_; }

  [[nodiscard]] base::SourceLoc Loc(const toml::node& node) const;
  [[nodiscard]] base::SourceLoc Loc(const toml::key& key) const;
  [[nodiscard]] base::SourceLoc TableLoc() const { return Loc(*table_); }
  // "<context>: <key>: <message>" at the node's position.
  [[nodiscard]] base::Error Err(const toml::node& node, std::string_view key,
                                const std::string& message) const;

 private:
  // One bit of a 64-bit mask per key, from its length and its first and
  // last characters: a key whose bit is clear is not in the table. A
  // table says which of a few dozen keys it sets, most of them absent: most
  // lookups end here, without a string comparison.
  static uint64_t KeyBit(std::string_view key) {
    size_t h = key.size() * 31;
    if (!key.empty()) {
      h += static_cast<unsigned char>(key.front()) * 7u + static_cast<unsigned char>(key.back());
    }
    return uint64_t{1} << (h & 63);
  }

  const toml::table* table_;
  std::string file_;
  std::string context_;
  uint64_t present_ = 0;  // KeyBit of every key of table_
};

// A key looked up in a service table, falling back to [defaults].
struct Found {
  const toml::node* node = nullptr;
  const TableReader* reader = nullptr;
  std::string key;
  base::SourceLoc key_loc;  // where the key itself is written, when known

  explicit operator bool() const { return node != nullptr; }
  [[nodiscard]] base::Error Err(const std::string& message) const {
    return reader->Err(*node, key, message);
  }
  [[nodiscard]] base::SourceLoc Loc() const { return reader->Loc(*node); }
  // An error about the key (its name), at the key's position.
  [[nodiscard]] base::Error KeyErr(const std::string& message) const {
    base::Error e = Err(message);
    return key_loc.line > 0 ? base::Error(key_loc, e.message()) : e;
  }
};

// A table entry as a Found, with the key's own position.
[[nodiscard]] Found Entry(const TableReader& reader, const toml::key& key, const toml::node& node);

// Looks `key` up in each reader in turn; the first that has it wins.
[[nodiscard]] Found Lookup(const std::vector<const TableReader*>& scope, std::string_view key);

// "a string", "an integer", ... for "expected X, got Y" messages.
[[nodiscard]] std::string TypeName(const toml::node& node);

// Typed reads; each fails with "expected ..., got ..." at the value.
[[nodiscard]] base::Result<std::string> AsString(const Found& f);
[[nodiscard]] base::Result<bool> AsBool(const Found& f);
[[nodiscard]] base::Result<int64_t> AsInt(const Found& f, int64_t min, int64_t max);
// Elements come with their own positions for later per-element errors.
struct StringItem {
  std::string value;
  base::SourceLoc loc;
};
[[nodiscard]] base::Result<std::vector<StringItem>> AsStringArray(const Found& f);
// A string, or an array of strings (listen = "a" or ["a", "b"]).
[[nodiscard]] base::Result<std::vector<StringItem>> AsStringOrArray(const Found& f);

// Parses a TOML document; syntax errors come back with file:line:column.
[[nodiscard]] base::Result<toml::table> ParseToml(std::string_view text, const std::string& file);

}  // namespace hinetd::config
