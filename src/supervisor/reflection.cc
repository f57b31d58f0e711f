#include "supervisor/reflection.h"

#include "supervisor/sockets.h"

namespace hinetd::supervisor {

PortSet ServedPorts(const config::Config& config) {
  PortSet ports;
  for (const auto& svc : config.services) {
    for (const auto& addr : svc.listen) {
      for (const auto& ep : addr.endpoints) {
        if (!ep.IsUnix()) ports.set(ep.port());
      }
    }
  }
  return ports;
}

bool SmallServicePort(uint16_t port) {
  return port == 7 || port == 9 || port == 13 || port == 19 || port == 37;
}

bool ReflectionRisk(const net::Endpoint& peer, const PortSet& served, bool internal) {
  if (peer.family() != AF_INET && peer.family() != AF_INET6) return true;  // no datagram peer
  uint16_t port = peer.port();
  if (port == 0 || BadSource(peer)) return true;
  if (served.test(port) || SmallServicePort(port)) return true;
  return internal && port < 1024;
}

}  // namespace hinetd::supervisor
