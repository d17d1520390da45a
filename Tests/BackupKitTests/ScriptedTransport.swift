import BackupKit
import BackupTransport
import Foundation
import Synchronization

/// An ``HTTPTransport`` that answers from a script, one step per request in order, and records every
/// request it got (with its body). For unit tests of the S3 client's own rules; the real server tests
/// are in S3Tests.
final class ScriptedTransport: HTTPTransport {
    enum Step {
        /// Answers with this status, headers and body.
        case respond(Int, headers: [String: String] = [:], body: [UInt8] = [])
        /// The exchange fails before an answer, such as a reset connection.
        case fail(BackupError)
        /// A 2xx answer whose body breaks off after `body` with `error`.
        case breakOff(Int, headers: [String: String], body: [UInt8], error: BackupError)
    }

    /// A request as it was sent, with the bytes of its body.
    struct Sent {
        var request: HTTPRequest
        var body: [UInt8]
        var method: String { request.method }
        var url: String { request.url }
    }

    static let reset = BackupError(.io, "Recv failure: Connection reset by peer", kind: .transient)

    private let state: Mutex<(steps: [Step], sent: [Sent])>

    init(_ steps: [Step]) { state = Mutex((steps, [])) }

    var sent: [Sent] { state.withLock { $0.sent } }
    var unusedSteps: Int { state.withLock { $0.steps.count } }

    func send(_ request: HTTPRequest, onHeaders: ((Int, [String: String]) throws -> Void)?,
              onData: ((UnsafeRawBufferPointer) throws -> Void)?) throws -> HTTPResponse {
        let body = try Self.bytes(of: request.body)
        let step = state.withLock { state -> Step? in
            state.sent.append(Sent(request: request, body: body))
            return state.steps.isEmpty ? nil : state.steps.removeFirst()
        }
        switch step {
        case nil:
            throw BackupError(.io, "the script has no answer for \(request.method) \(request.url)")
        case .fail(let error):
            throw error
        case .respond(let status, let headers, let body):
            try onHeaders?(status, headers)
            guard (200..<300).contains(status), let onData else { return HTTPResponse(status: status, headers: headers, body: body) }
            try body.withUnsafeBytes { try onData($0) }
            return HTTPResponse(status: status, headers: headers)
        case .breakOff(let status, let headers, let body, let error):
            try onHeaders?(status, headers)
            try body.withUnsafeBytes { try onData?($0) }
            throw error
        }
    }

    static func bytes(of body: HTTPRequest.Body) throws -> [UInt8] {
        switch body {
        case .none: return []
        case .bytes(let bytes): return bytes
        case .file(let file, let offset, let length):
            var bytes = [UInt8](repeating: 0, count: Int(length))
            let count = try bytes.withUnsafeMutableBytes { try file.open().read(into: $0, at: offset) }
            return Array(bytes.prefix(count))
        }
    }
}
