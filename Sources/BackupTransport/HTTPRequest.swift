import Foundation
import BackupKit

/// One HTTP request as the S3 client, the webhook and the heartbeat build it, for an ``HTTPTransport``
/// to send.
package struct HTTPRequest: Sendable {
    package var method: String
    package var url: String
    /// Header lines such as `Content-Type: application/json`.
    package var headers: [String]
    package var body: Body
    /// Signs the request with AWS Signature Version 4 (S3).
    package var signing: SigV4?
    /// The longest the whole exchange may take, in seconds; nil: no limit beyond the stall timeout.
    package var timeout: Double?

    package enum Body: Sendable, Equatable {
        case none
        case bytes([UInt8])
        /// A range of a staged file's stored bytes (encrypted on the way when it says so), read as it is sent.
        case file(StagedFile, offset: Int64, length: Int64)

        /// The number of bytes the body holds.
        package var length: Int64 {
            switch self {
            case .none: 0
            case .bytes(let bytes): Int64(bytes.count)
            case .file(_, _, let length): length
            }
        }
    }

    /// What SigV4 signing needs. The secret is only ever handed to the transport, never logged.
    package struct SigV4: Sendable {
        package var region: String
        package var service: String
        package var accessKey: String
        package var secretKey: String

        package init(region: String, service: String = "s3", accessKey: String, secretKey: String) {
            self.region = region
            self.service = service
            self.accessKey = accessKey
            self.secretKey = secretKey
        }
    }

    package init(method: String, url: String, headers: [String] = [], body: Body = .none, signing: SigV4? = nil, timeout: Double? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.signing = signing
        self.timeout = timeout
    }

    /// The value of the first header line named `name` (case-insensitive), without the name.
    package func header(_ name: String) -> String? {
        let prefix = name.lowercased() + ":"
        return headers.first { $0.lowercased().hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
    }
}
