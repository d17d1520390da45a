import BackupKit

/// The answer to one request over an ``HTTPTransport`` (or a ``CurlRequest``).
package struct HTTPResponse: Sendable {
    /// The HTTP status (or SFTP/SMTP reply code; 0 when none).
    package var status: Int
    /// Response headers, lower-cased names; the last value wins.
    package var headers: [String: String]
    /// The body, when no data handler took it (up to 16 MiB).
    package var body: [UInt8]

    package init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

extension HTTPResponse {
    /// A 2xx status.
    package var isSuccess: Bool { (200..<300).contains(status) }

    /// A status after which the same request may succeed later: 408, 429 and 5xx.
    package var isTransientFailure: Bool { status == 408 || status == 429 || (500...599).contains(status) }

    /// Throws unless the status is 2xx: "`what` answered HTTP 503", transient when trying again may help.
    package func requireSuccess(_ what: @autoclosure () -> String) throws {
        guard !isSuccess else { return }
        throw BackupError(.io, "\(what()) answered HTTP \(status)", kind: isTransientFailure ? .transient : .permanent)
    }
}
