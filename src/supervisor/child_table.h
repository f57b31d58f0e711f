// The monitor's children and their bookkeeping: the records (children.h),
// how many run per service, which child a status pipe is, and what is due
// for each and when: the look at a setup nobody watches, the watch of a
// stderr pipe nobody reads yet, the setup's deadline, the service's
// timeout. Every entry of a child goes with it
// (Remove), so a pid the kernel reuses never meets another child's deadline.
//
// It decides nothing: the monitor asks what is due (TakeDue) and acts on
// it, and tells the table what became of a child (SetupOver, Ended).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <unordered_map>

#include "supervisor/children.h"

namespace hinetd::supervisor {

class ChildTable {
 public:
  enum class Due {
    kLook,     // a setup unwatched for its delay: look at it, or watch it
    kStderr,   // a stderr pipe unwatched for the same delay: watch it
    kSetup,    // a setup past its deadline: killed
    kTimeout,  // a service past its timeout (or its kill grace)
  };

  // Every allocation adding one child needs, made before its clone: once
  // the child exists nothing may fail, or it would run untracked.
  class Reservation {
   public:
    Reservation(Reservation&&) = default;
    Reservation& operator=(Reservation&&) = default;

   private:
    friend class ChildTable;
    Reservation() = default;
    Children::node_type child;
    std::unordered_map<int, pid_t>::node_type exec;
    Deadlines::node_type look;
    Deadlines::node_type stderr_look;
    Deadlines::node_type setup;
    Deadlines::node_type timeout;
    // The service's count (valid until Add or Cancel: nothing in between
    // adds or removes a count), and whether it was made for this child.
    std::unordered_map<std::string, int>::iterator running;
    bool running_made = false;
  };

  ChildTable() = default;
  ChildTable(const ChildTable&) = delete;
  ChildTable& operator=(const ChildTable&) = delete;

  // For a child of `service`, with a timeout or not, with a stderr pipe
  // (stderr = "log") or not.
  [[nodiscard]] Reservation Reserve(const std::string& service, bool timeout,
                                    bool stderr_pipe = false);
  // No child was cloned: what Reserve made for it goes.
  void Cancel(Reservation r);
  // The child `pid`, cloned, setting up; `status_fd` its status pipe.
  // `look_at`: when its unwatched setup is looked at, and when its stderr
  // pipe (if reserved with one) is watched; `timeout_at` only if reserved
  // with a timeout. It counts as running from now. Allocates nothing.
  Child& Add(Reservation r, pid_t pid, Child child, int status_fd, Clock::time_point look_at,
             Clock::time_point setup_deadline, std::optional<Clock::time_point> timeout_at);

  [[nodiscard]] Child* Find(pid_t pid);
  // The child whose status pipe `fd` is, while its setup lasts.
  [[nodiscard]] std::optional<pid_t> StatusOwner(int fd) const;
  // The setup is over (executed, failed, or the child gone): its status
  // pipe, its look and its setup deadline are forgotten.
  void SetupOver(Child& c);
  // Its status pipe is watched now: no look is due for it.
  void Watched(Child& c);
  // Its setup failed (setup_failed): it stops counting as running now,
  // the others when they are removed.
  void SetupFailed(Child& c);

  // The earliest entry of `kind` due by `now`, taken off; nullopt if none.
  [[nodiscard]] std::optional<pid_t> TakeDue(Due kind, Clock::time_point now);
  // Calls f(pid) for each child whose setup nobody watches, earliest look
  // first; f may take that child's entries (SetupOver, Watched), no other.
  template <typename F>
  void ForEachUnwatched(F&& f) {
    for (auto next = look_.begin(); next != look_.end();) {
      pid_t pid = (next++)->second;
      f(pid);
    }
  }
  [[nodiscard]] bool AnyUnwatched() const { return !look_.empty(); }
  // The service's timeout again, at `when` (the kill grace after TERM).
  void Rearm(pid_t pid, Child& c, Clock::time_point when);
  // When the next entry of any kind is due (max: none).
  [[nodiscard]] Clock::time_point NextDue() const;

  // The child is reaped: every entry of it goes, the record too.
  void Remove(pid_t pid);

  [[nodiscard]] int running(const std::string& service) const;
  [[nodiscard]] const std::unordered_map<std::string, int>& running() const { return running_; }
  [[nodiscard]] Children& all() { return children_; }
  [[nodiscard]] const Children& all() const { return children_; }
  [[nodiscard]] bool empty() const { return children_.empty(); }
  [[nodiscard]] size_t size() const { return children_.size(); }

 private:
  void Decrement(const std::string& service);

  Children children_;
  std::unordered_map<std::string, int> running_;  // per service, for `active`
  std::unordered_map<int, pid_t> status_owner_;   // status pipe -> child
  Deadlines look_;         // Due::kLook
  Deadlines stderr_look_;  // Due::kStderr
  Deadlines setup_;        // Due::kSetup
  Deadlines timeouts_;     // Due::kTimeout
};

}  // namespace hinetd::supervisor
