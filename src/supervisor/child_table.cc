#include "supervisor/child_table.h"

#include <algorithm>
#include <tuple>

namespace hinetd::supervisor {

ChildTable::Reservation ChildTable::Reserve(const std::string& service, bool timeout,
                                            bool stderr_pipe) {
  // Nodes with placeholder keys, made in their containers and taken out
  // again: Add puts them back under their real keys without allocating.
  Reservation r;
  std::tie(r.running, r.running_made) = running_.try_emplace(service, 0);
  children_.reserve(children_.size() + 1);
  status_owner_.reserve(status_owner_.size() + 1);
  r.child = children_.extract(children_.try_emplace(0).first);
  r.exec = status_owner_.extract(status_owner_.try_emplace(-1, 0).first);
  r.look = look_.extract(look_.emplace(Clock::time_point::max(), 0));
  if (stderr_pipe) {
    r.stderr_look = stderr_look_.extract(stderr_look_.emplace(Clock::time_point::max(), 0));
  }
  r.setup = setup_.extract(setup_.emplace(Clock::time_point::max(), 0));
  if (timeout) r.timeout = timeouts_.extract(timeouts_.emplace(Clock::time_point::max(), 0));
  return r;
}

void ChildTable::Cancel(Reservation r) {
  if (r.running_made && r.running->second == 0) running_.erase(r.running);
}

Child& ChildTable::Add(Reservation r, pid_t pid, Child child, int status_fd,
                       Clock::time_point look_at, Clock::time_point setup_deadline,
                       std::optional<Clock::time_point> timeout_at) {
  ++r.running->second;  // made by Reserve
  if (timeout_at && r.timeout) {
    r.timeout.key() = *timeout_at;
    r.timeout.mapped() = pid;
    child.deadline = timeouts_.insert(std::move(r.timeout));
  }
  r.setup.key() = setup_deadline;
  r.setup.mapped() = pid;
  child.setup_deadline = setup_.insert(std::move(r.setup));
  r.exec.key() = status_fd;
  r.exec.mapped() = pid;
  status_owner_.insert(std::move(r.exec));
  child.exec_fd = status_fd;
  r.look.key() = look_at;
  r.look.mapped() = pid;
  child.unwatched = look_.insert(std::move(r.look));
  if (r.stderr_look && child.stderr_fd >= 0) {
    r.stderr_look.key() = look_at;
    r.stderr_look.mapped() = pid;
    child.stderr_look = stderr_look_.insert(std::move(r.stderr_look));
  }
  r.child.key() = pid;
  r.child.mapped() = std::move(child);
  return children_.insert(std::move(r.child)).position->second;
}

Child* ChildTable::Find(pid_t pid) {
  auto it = children_.find(pid);
  return it == children_.end() ? nullptr : &it->second;
}

std::optional<pid_t> ChildTable::StatusOwner(int fd) const {
  auto it = status_owner_.find(fd);
  if (it == status_owner_.end()) return std::nullopt;
  return it->second;
}

void ChildTable::SetupOver(Child& c) {
  if (c.exec_fd >= 0) status_owner_.erase(c.exec_fd);
  c.exec_slot = -1;
  c.exec_fd = -1;
  c.exec_watched = false;
  if (c.unwatched) {
    look_.erase(*c.unwatched);
    c.unwatched.reset();
  }
  if (c.setup_deadline) {
    setup_.erase(*c.setup_deadline);
    c.setup_deadline.reset();
  }
}

void ChildTable::Watched(Child& c) {
  if (c.unwatched) {
    look_.erase(*c.unwatched);
    c.unwatched.reset();
  }
}

void ChildTable::SetupFailed(Child& c) {
  if (c.setup_failed) return;
  c.setup_failed = true;
  Decrement(c.service);
}

std::optional<pid_t> ChildTable::TakeDue(Due kind, Clock::time_point now) {
  Deadlines& due = kind == Due::kLook     ? look_
                   : kind == Due::kStderr ? stderr_look_
                   : kind == Due::kSetup  ? setup_
                                          : timeouts_;
  while (!due.empty() && due.begin()->first <= now) {
    auto entry = due.begin();
    pid_t pid = entry->second;
    auto it = children_.find(pid);
    std::optional<Deadlines::iterator>* mine = nullptr;
    if (it != children_.end()) {
      Child& c = it->second;
      mine = kind == Due::kLook     ? &c.unwatched
             : kind == Due::kStderr ? &c.stderr_look
             : kind == Due::kSetup  ? &c.setup_deadline
                                    : &c.deadline;
    }
    // No child's, or not its current entry: cannot happen (Remove takes a
    // child's entries with it); dropped.
    bool current = mine != nullptr && *mine && **mine == entry;
    due.erase(entry);
    if (!current) continue;
    mine->reset();
    return pid;
  }
  return std::nullopt;
}

void ChildTable::Rearm(pid_t pid, Child& c, Clock::time_point when) {
  if (c.deadline) timeouts_.erase(*c.deadline);
  c.deadline = timeouts_.emplace(when, pid);
}

Clock::time_point ChildTable::NextDue() const {
  Clock::time_point next = Clock::time_point::max();
  if (!look_.empty()) next = std::min(next, look_.begin()->first);
  if (!stderr_look_.empty()) next = std::min(next, stderr_look_.begin()->first);
  if (!setup_.empty()) next = std::min(next, setup_.begin()->first);
  if (!timeouts_.empty()) next = std::min(next, timeouts_.begin()->first);
  return next;
}

void ChildTable::Remove(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  Child& c = it->second;
  SetupOver(c);  // nothing left of it, normally
  if (c.deadline) timeouts_.erase(*c.deadline);
  if (c.stderr_look) stderr_look_.erase(*c.stderr_look);
  if (!c.setup_failed) Decrement(c.service);
  children_.erase(it);
}

int ChildTable::running(const std::string& service) const {
  auto it = running_.find(service);
  return it == running_.end() ? 0 : it->second;
}

void ChildTable::Decrement(const std::string& service) {
  auto it = running_.find(service);
  if (it == running_.end()) return;
  if (--it->second <= 0) running_.erase(it);
}

}  // namespace hinetd::supervisor
