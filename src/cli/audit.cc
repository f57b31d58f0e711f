// `hinetd audit`: the exposure of every service (src/audit), as text or
// JSON, against a threshold or an older table.
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "audit/audit.h"
#include "audit/prove.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "spawn/plan.h"

namespace hinetd::cli {

namespace {

using audit::Outcome;
using audit::ServiceAudit;

std::string Score(int tenths) {
  char buf[16];
  snprintf(buf, sizeof buf, "%d.%d", tenths / 10, tenths % 10);
  return buf;
}

void PrintService(const ServiceAudit& a) {
  printf("service \"%s\": %s %s\n", a.name.c_str(), Score(a.score).c_str(), a.bucket.c_str());
  for (const auto& c : a.checks) {
    std::string text = c.outcome == Outcome::kFail ? c.info->risk : c.detail;
    if (c.outcome == Outcome::kFail) text += " (" + c.detail + ")";
    printf("  %-4s %4s  %-24s %s  [fix: %s]\n", audit::OutcomeText(c.outcome),
           Score(c.info->weight).c_str(), c.info->id, text.c_str(), c.info->fix);
  }
}

void PrintSummary(const std::vector<ServiceAudit>& audits) {
  std::vector<const ServiceAudit*> order;
  for (const auto& a : audits) order.push_back(&a);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* x, const auto* y) { return x->score > y->score; });
  size_t width = 7;
  for (const auto* a : order) width = std::max(width, a->name.size());
  printf("\n%-*s  %5s  %-9s  %s\n", static_cast<int>(width), "SERVICE", "SCORE", "BUCKET",
         "FAILED CHECKS");
  for (const auto* a : order) {
    std::string failed;
    for (const auto& c : a->checks) {
      if (c.outcome == Outcome::kFail) failed += (failed.empty() ? "" : " ") + std::string(c.info->id);
    }
    printf("%-*s  %5s  %-9s  %s\n", static_cast<int>(width), a->name.c_str(),
           Score(a->score).c_str(), a->bucket.c_str(), failed.empty() ? "-" : failed.c_str());
  }
}

std::string JsonNumber(int tenths) { return Score(tenths); }

// Changes between two audits of one service (--against).
struct Change {
  std::string name;
  std::string status;  // "changed", "unchanged", "added", "removed"
  int old_score = 0;
  int new_score = 0;
  std::vector<std::string> added, removed, narrowed_or_widened;
  std::vector<std::string> notes;  // chroot, user, policy
  bool worse = false;
};

std::vector<Change> Compare(const std::vector<ServiceAudit>& before,
                            const std::vector<ServiceAudit>& after) {
  std::vector<Change> out;
  auto find = [](const std::vector<ServiceAudit>& list, const std::string& name) {
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& a) { return a.name == name; });
    return it == list.end() ? nullptr : &*it;
  };
  for (const auto& n : after) {
    Change c;
    c.name = n.name;
    c.new_score = n.score;
    const ServiceAudit* o = find(before, n.name);
    if (o == nullptr) {
      c.status = "added";
      out.push_back(std::move(c));
      continue;
    }
    c.old_score = o->score;
    if (o->all_allowed != n.all_allowed) {
      c.notes.push_back(n.all_allowed ? "policy removed: every system call but the base deny list"
                                      : "policy added");
    }
    for (const auto& [name, conds] : n.allowed) {
      auto it = o->allowed.find(name);
      if (it == o->allowed.end()) {
        c.added.push_back(name);
      } else if (it->second != conds) {
        c.narrowed_or_widened.push_back(name);
      }
    }
    for (const auto& [name, conds] : o->allowed) {
      if (n.allowed.count(name) == 0) c.removed.push_back(name);
    }
    if (o->chroot != n.chroot) {
      c.notes.push_back("chroot " + (o->chroot.empty() ? std::string("none") : o->chroot) + " -> " +
                        (n.chroot.empty() ? std::string("none") : n.chroot));
    }
    if (o->uid != n.uid || o->user != n.user) {
      c.notes.push_back("user " + o->user + " (uid " + std::to_string(o->uid) + ") -> " + n.user +
                        " (uid " + std::to_string(n.uid) + ")");
    }
    if (o->gid != n.gid) {
      c.notes.push_back("gid " + std::to_string(o->gid) + " -> " + std::to_string(n.gid));
    }
    if (o->policy != n.policy) c.notes.push_back("policy " + o->policy + " -> " + n.policy);
    for (const auto& nc : n.checks) {
      for (const auto& oc : o->checks) {
        if (oc.info == nc.info && oc.outcome != nc.outcome) {
          c.notes.push_back(std::string(nc.info->id) + " " + audit::OutcomeText(oc.outcome) +
                            " -> " + audit::OutcomeText(nc.outcome));
        }
      }
    }
    c.worse = c.new_score > c.old_score || !c.added.empty() || (n.all_allowed && !o->all_allowed);
    bool same = c.new_score == c.old_score && c.added.empty() && c.removed.empty() &&
                c.narrowed_or_widened.empty() && c.notes.empty();
    c.status = same ? "unchanged" : "changed";
    out.push_back(std::move(c));
  }
  for (const auto& o : before) {
    if (find(after, o.name) == nullptr) {
      Change c;
      c.name = o.name;
      c.status = "removed";
      c.old_score = o.score;
      out.push_back(std::move(c));
    }
  }
  return out;
}

void PrintChanges(const std::string& old_path, const std::vector<Change>& changes) {
  printf("\nchanges since %s:\n", old_path.c_str());
  for (const auto& c : changes) {
    if (c.status == "added") {
      printf("  %s: new service, score %s\n", c.name.c_str(), Score(c.new_score).c_str());
      continue;
    }
    if (c.status == "removed") {
      printf("  %s: removed (was %s)\n", c.name.c_str(), Score(c.old_score).c_str());
      continue;
    }
    if (c.status == "unchanged") {
      printf("  %s: unchanged, score %s\n", c.name.c_str(), Score(c.new_score).c_str());
      continue;
    }
    int delta = c.new_score - c.old_score;
    printf("  %s: score %s -> %s (%s%s)%s\n", c.name.c_str(), Score(c.old_score).c_str(),
           Score(c.new_score).c_str(), delta >= 0 ? "+" : "-", Score(std::abs(delta)).c_str(),
           c.worse ? "  WORSE" : "");
    auto list = [](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      printf("    %s %s\n", what, s.c_str());
    };
    list("syscalls added:  ", c.added);
    list("syscalls removed:", c.removed);
    list("rules changed:   ", c.narrowed_or_widened);
    for (const auto& n : c.notes) printf("    %s\n", n.c_str());
  }
}

std::string JsonList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + audit::JsonString(v[i]);
  return out + "]";
}

void PrintProveJson(const audit::ProveReport& r) {
  using audit::JsonString;
  printf(",\n      \"prove\": [");
  for (size_t j = 0; j < r.lines.size(); ++j) {
    const auto& l = r.lines[j];
    printf("%s\n        {\"escape\": %s, \"attempt\": %s, \"result\": %s, \"kernel\": %s, "
           "\"audit\": %s}",
           j ? "," : "", JsonString(l.escape->id).c_str(), JsonString(l.escape->what).c_str(),
           JsonString(audit::ProveOutcomeText(l.outcome)).c_str(), JsonString(l.kernel).c_str(),
           JsonString(l.predicted).c_str());
  }
  printf("\n      ]");
}

void PrintJson(const std::string& path, const std::vector<ServiceAudit>& audits,
               const std::string& against, const std::vector<Change>* changes,
               const std::vector<audit::ProveReport>* proofs) {
  using audit::JsonString;
  printf("{\n  \"schema\": \"hinetd-audit/1\",\n  \"config\": %s,\n", JsonString(path).c_str());
  printf("  \"formula\": \"score = min(10, sum of the weights of the failed checks)\",\n");
  printf("  \"services\": [");
  for (size_t i = 0; i < audits.size(); ++i) {
    const auto& a = audits[i];
    printf("%s\n    {\n      \"name\": %s,\n      \"score\": %s,\n      \"bucket\": %s,\n",
           i ? "," : "", JsonString(a.name).c_str(), JsonNumber(a.score).c_str(),
           JsonString(a.bucket).c_str());
    printf("      \"user\": %s,\n      \"uid\": %u,\n      \"gid\": %u,\n",
           JsonString(a.user).c_str(), a.uid, a.gid);
    printf("      \"chroot\": %s,\n      \"policy\": %s,\n",
           a.chroot.empty() ? "null" : JsonString(a.chroot).c_str(), JsonString(a.policy).c_str());
    if (a.all_allowed) {
      printf("      \"allowed_syscalls\": null,\n");
    } else {
      printf("      \"allowed_syscalls\": {");
      size_t k = 0;
      for (const auto& [name, conds] : a.allowed) {
        printf("%s\n        %s: %s", k++ ? "," : "", JsonString(name).c_str(),
               JsonList(conds).c_str());
      }
      printf("\n      },\n");
    }
    printf("      \"checks\": [");
    for (size_t j = 0; j < a.checks.size(); ++j) {
      const auto& c = a.checks[j];
      printf("%s\n        {\"id\": %s, \"category\": %s, \"result\": %s, \"weight\": %s, "
             "\"counted\": %s, \"risk\": %s, \"detail\": %s, \"fix\": %s}",
             j ? "," : "", JsonString(c.info->id).c_str(), JsonString(c.info->category).c_str(),
             JsonString(audit::OutcomeJson(c.outcome)).c_str(),
             JsonNumber(c.info->weight).c_str(), JsonNumber(c.counted()).c_str(),
             JsonString(c.info->risk).c_str(), JsonString(c.detail).c_str(),
             JsonString(c.info->fix).c_str());
    }
    printf("\n      ]");
    if (proofs != nullptr) {
      for (const auto& r : *proofs) {
        if (r.service == a.name) PrintProveJson(r);
      }
    }
    printf("\n    }");
  }
  printf("\n  ]");
  if (changes != nullptr) {
    printf(",\n  \"against\": %s,\n  \"changes\": [", JsonString(against).c_str());
    for (size_t i = 0; i < changes->size(); ++i) {
      const auto& c = (*changes)[i];
      printf("%s\n    {\"name\": %s, \"status\": %s, \"old_score\": %s, \"new_score\": %s, "
             "\"worse\": %s, \"syscalls_added\": %s, \"syscalls_removed\": %s, "
             "\"rules_changed\": %s, \"notes\": %s}",
             i ? "," : "", JsonString(c.name).c_str(), JsonString(c.status).c_str(),
             c.status == "added" ? "null" : JsonNumber(c.old_score).c_str(),
             c.status == "removed" ? "null" : JsonNumber(c.new_score).c_str(),
             c.worse ? "true" : "false", JsonList(c.added).c_str(), JsonList(c.removed).c_str(),
             JsonList(c.narrowed_or_widened).c_str(), JsonList(c.notes).c_str());
    }
    printf("\n  ]");
  }
  printf("\n}\n");
}

void PrintProofs(const std::vector<audit::ProveReport>& reports) {
  printf("\nproof: each service's child, started as for a connection, runs "
         "hinetd-probe-escape; one child per attempt\n");
  for (const auto& r : reports) {
    printf("service \"%s\"\n", r.service.c_str());
    for (const auto& l : r.lines) {
      printf("  %-12s %-13s %s; the audit: %s\n", audit::ProveOutcomeText(l.outcome),
             l.escape->id, l.kernel.c_str(), l.predicted.c_str());
    }
  }
}

}  // namespace

int RunAudit(const Args& args) {
  if (args.prove && geteuid() != 0) {
    fprintf(stderr, "hinetd: audit --prove starts real children (chroot, setuid): run it as "
                    "root\n");
    return kExitNoPerm;
  }
  auto table = spawn::LoadTable(args.config);
  if (!table.ok()) {
    fprintf(stderr, "hinetd: %s\n", table.error().ToString().c_str());
    return kExitConfig;
  }
  auto audits = audit::AuditTable(*table->config, *table->plans, args.services);
  if (!audits.ok()) {
    fprintf(stderr, "hinetd: %s\n", audits.error().ToString().c_str());
    return audits.error().message().rfind("no service", 0) == 0 ? kExitUsage : kExitSystem;
  }
  std::vector<Change> changes;
  if (!args.against.empty()) {
    auto old_table = spawn::LoadTable(args.against);
    if (!old_table.ok()) {
      fprintf(stderr, "hinetd: --against: %s\n", old_table.error().ToString().c_str());
      return kExitConfig;
    }
    // The services asked for, or all; a name missing from the old table is new.
    std::vector<std::string> only;
    for (const auto& name : args.services) {
      for (const auto& s : old_table->config->services) {
        if (s.name == name) only.push_back(name);
      }
    }
    std::vector<ServiceAudit> before;
    if (args.services.empty() || !only.empty()) {
      auto old_audits = audit::AuditTable(*old_table->config, *old_table->plans, only);
      if (!old_audits.ok()) {
        fprintf(stderr, "hinetd: --against: %s\n", old_audits.error().ToString().c_str());
        return kExitSystem;
      }
      before = std::move(*old_audits);
    }
    changes = Compare(before, *audits);
  }
  std::vector<audit::ProveReport> proofs;
  if (args.prove) {
    fflush(stdout);
    auto r = audit::Prove(*table->config, *table->plans, *audits);
    if (!r.ok()) {
      fprintf(stderr, "hinetd: --prove: %s\n", r.error().ToString().c_str());
      return kExitSystem;
    }
    proofs = std::move(*r);
  }
  if (args.json) {
    PrintJson(args.config, *audits, args.against, args.against.empty() ? nullptr : &changes,
              args.prove ? &proofs : nullptr);
  } else {
    for (const auto& a : *audits) PrintService(a);
    PrintSummary(*audits);
    if (!args.against.empty()) PrintChanges(args.against, changes);
    if (args.prove) PrintProofs(proofs);
  }
  int code = kExitOk;
  std::string contradicted, failed;
  for (const auto& r : proofs) {
    for (const auto& l : r.lines) {
      std::string what = r.service + " " + l.escape->id;
      if (l.outcome == audit::ProveOutcome::kContradicted) {
        contradicted += (contradicted.empty() ? "" : ", ") + what;
      }
      if (l.outcome == audit::ProveOutcome::kError) failed += (failed.empty() ? "" : ", ") + what;
    }
  }
  if (!failed.empty()) {
    fprintf(stderr, "hinetd: --prove could not run: %s\n", failed.c_str());
    code = kExitSystem;
  }
  if (!contradicted.empty()) {
    fprintf(stderr, "hinetd: CONTRADICTED (the audit said blocked, the kernel allowed it): %s\n",
            contradicted.c_str());
    code = kExitFinding;
  }
  if (args.threshold) {
    std::string over;
    for (const auto& a : *audits) {
      if (a.score > std::lround(*args.threshold * 1000) / 100.0) {
        over += (over.empty() ? "" : ", ") + a.name + " (" + Score(a.score) + ")";
      }
    }
    if (!over.empty()) {
      fprintf(stderr, "hinetd: over the threshold %g: %s\n", *args.threshold, over.c_str());
      if (code == kExitOk) code = kExitFinding;
    }
  }
  std::string worse;
  for (const auto& c : changes) {
    if (c.worse) worse += (worse.empty() ? "" : ", ") + c.name;
  }
  if (!worse.empty()) {
    fprintf(stderr, "hinetd: worse than %s: %s\n", args.against.c_str(), worse.c_str());
    if (code == kExitOk) code = kExitFinding;
  }
  return code;
}

}  // namespace hinetd::cli
