// The real programs of the realprog suite: for each, what its jail holds,
// how hinetd runs it, and how its real client proves a session worked.
// Shared by the plain runs (realprog_test.cc) and the learned policies
// (learned_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/jail.h"
#include "common/jail_builder.h"
#include "common/process.h"

namespace hinetd::testing {

struct RealProgram {
  std::string name;                 // the service's name
  bool udp = false;                 // listens on a UDP port
  uint16_t port = 0;                // 0: any free port; else this one, in a network namespace
  int connections = 1;              // connections one session makes
  // How each of them ends, in order (hinetd's status=), when not all exit:0.
  std::vector<std::string> statuses;
  std::vector<std::string> needs;   // host paths: the program, its helpers, its client
  std::vector<std::string> exec;    // argv inside the jail
  std::string extra;                // more [[service]] keys
  // The policy it runs under before anything is learned: the shipped
  // `default`, or, where that is not enough, policy_text written as
  // sandbox/<policy>.toml.
  std::string policy = "default";
  std::string policy_text;
  // Fills the jail (programs, libraries, data, accounts) the test builds.
  std::function<::testing::AssertionResult(Jail&, JailBuilder&)> build;
  // Or: hinetd builds it. `prepare` writes the service's data on the host
  // under `data` (a fresh directory); `jail` is the service's jail table,
  // e.g. { programs = [...], files = [...] }, naming that data.
  std::function<::testing::AssertionResult(const std::string& data)> prepare;
  std::function<std::string(const std::string& data)> jail;
  // One real client session against 127.0.0.1:port; `scratch` is a private
  // directory for what the client writes.
  std::function<::testing::AssertionResult(uint16_t port, const std::string& scratch)> session;
};

// A file's bytes ("" if it cannot be read).
std::string Slurp(const std::string& path);
// Some bytes that are not all text, so that a mangled transfer shows.
std::string Payload(const std::string& tag);
// A command's exit status and output, for a failure message.
std::string Show(const CommandResult& r);

RealProgram RsyncDaemon();
RealProgram GitDaemon();
RealProgram Fingerd();
RealProgram BusyboxHttpd();
RealProgram Tftpd();

}  // namespace hinetd::testing
