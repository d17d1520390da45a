import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

/// Serves `GET /metrics` (Prometheus' exposition format) on a TCP address, for
/// `backupctl schedule --metrics-listen`. A small, blocking HTTP/1.0 responder on a thread of its own:
/// one request per connection, anything but `/metrics` is 404.
package final class MetricsServer: Service, Sendable {
    public let address: String
    private let body: @Sendable () -> String
    private let socket = Mutex<Int32>(-1)
    public let port: Int
    private let logger: Logger

    /// Binds `host:port` (port 0 picks a free one, see ``port``).
    public init(address: String, logger: Logger, body: @escaping @Sendable () -> String) throws {
        self.address = address
        self.body = body
        self.logger = logger
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw BackupError(.usage, "--metrics-listen \(address): write it as HOST:PORT, such as 127.0.0.1:9108 or 0.0.0.0:9108")
        }
        let host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BackupError(.io, "cannot create a socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address4 = sockaddr_in()
        address4.sin_family = sa_family_t(AF_INET)
        address4.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host.isEmpty ? "0.0.0.0" : host, &address4.sin_addr) == 1 else {
            close(fd)
            throw BackupError(.usage, "--metrics-listen \(self.address): '\(host)' is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address4) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw BackupError(.io, "cannot listen on \(self.address): \(message)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        socket.withLock { $0 = fd }
    }

    public func run() async throws {
        let fd = socket.withLock { $0 }
        Thread.detachNewThread { [self] in serve(fd) }
        try? await gracefulShutdown()
        let closing = socket.withLock { value -> Int32 in
            let fd = value
            value = -1
            return fd
        }
        if closing >= 0 {
            shutdown(closing, Int32(SHUT_RDWR))
            close(closing)
        }
    }

    private func serve(_ listener: Int32) {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // closed on shutdown
            }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request = [UInt8](repeating: 0, count: 4096)
            let count = read(client, &request, request.count)
            let line = count > 0 ? String(decoding: request[0..<count], as: UTF8.self).split(separator: "\r\n").first.map(String.init) ?? "" : ""
            let parts = line.split(separator: " ")
            let response: String
            if parts.count >= 2, parts[0] == "GET", parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
                let text = body()
                response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n\(text)"
            } else {
                response = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n"
            }
            var bytes = Array(response.utf8)
            var sent = 0
            while sent < bytes.count {
                let written = bytes.withUnsafeMutableBytes { write(client, $0.baseAddress! + sent, $0.count - sent) }
                if written <= 0 { break }
                sent += written
            }
            close(client)
        }
    }
}
