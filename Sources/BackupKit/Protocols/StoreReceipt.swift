import Foundation

/// What a sink confirmed about a stored artifact, recorded in the manifest: such as `size` (the stored
/// object has the staged file's length), `content-md5` (the server checked each part's MD5),
/// `sha256-payload` (the server checked each request body's SHA-256), `etag` (the server's ETag matches
/// the MD5s we computed).
public struct StoreReceipt: Sendable, Hashable, Codable {
    public var checks: [String]

    public init(checks: [String] = []) { self.checks = checks }
}
