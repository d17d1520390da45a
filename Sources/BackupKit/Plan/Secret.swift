import Foundation
import Synchronization

/// A password, key or token from a plan: given inline (usually as `${VAR}`) or by a `*_file` key that
/// names a file holding it. It prints, encodes and logs as `***`; only ``reveal()`` gives the value.
///
/// Decoding a plan value as a `Secret` is what marks it secret: `config print` masks exactly the values
/// that were decoded as secrets, whatever their keys are called.
public struct Secret: Sendable, Hashable, CustomStringConvertible, Codable {
    public enum Storage: Sendable, Hashable {
        case value(String)
        case file(String)
    }

    public let storage: Storage

    init(storage: Storage) { self.storage = storage }

    public static func value(_ value: String) -> Secret { Secret(storage: .value(value)) }
    public static func file(_ path: String) -> Secret { Secret(storage: .file(path)) }

    /// The secret itself. A file's trailing newline is dropped, as Docker secrets and `echo` leave one.
    public func reveal() throws -> String {
        switch storage {
        case .value(let value):
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw BackupError(.missingCredentials, "cannot read the secret file \(path). Check that it exists and that backupctl may read it.")
            }
            var text = String(decoding: data, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            return text
        }
    }

    public var description: String {
        switch storage {
        case .value: "***"
        case .file(let path): "*** (from \(path))"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// An inline secret: a plain string in the plan.
    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(String.self)
        (decoder.userInfo[PlanDecodingContext.key] as? PlanDecodingContext)?.secretLocations?.record(decoder.codingPath)
        self = .value(value)
    }
}

extension KeyedDecodingContainer {
    /// Decodes a secret given either inline under `key` or as a file path under `fileKey`. Both at once
    /// is an error, so it is never unclear which one is used. A relative file path is made absolute
    /// against `base` when given.
    public func decodeSecretIfPresent(_ key: Key, fileKey: Key, resolvingPathsAgainst base: String? = nil) throws -> Secret? {
        let inline = try decodeIfPresent(Secret.self, forKey: key)
        let file = try decodeIfPresent(String.self, forKey: fileKey)
        switch (inline, file) {
        case (nil, nil): return nil
        case (let secret?, nil): return secret
        case (nil, let path?): return .file(base.map { resolvePath(path, against: $0) } ?? path)
        case (.some, .some):
            throw DecodingError.dataCorruptedError(forKey: fileKey, in: self, debugDescription: "give either '\(key.stringValue)' or '\(fileKey.stringValue)', not both")
        }
    }
}

/// Makes a relative path absolute against `base` (the plan file's directory).
package func resolvePath(_ path: String, against base: String) -> String {
    if path.hasPrefix("/") { return path }
    if path == "~" || path.hasPrefix("~/") {
        return (ProcessInfo.processInfo.environment["HOME"] ?? "/") + path.dropFirst()
    }
    var parts = base == "/" ? [] : base.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        if part == "." { continue }
        if part == "..", !parts.isEmpty { parts.removeLast(); continue }
        parts.append(String(part))
    }
    return "/" + parts.joined(separator: "/")
}
