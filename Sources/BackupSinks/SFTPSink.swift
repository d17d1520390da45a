import BackupKit
import BackupTransport
import CCurl
import Foundation

/// Keeps artifacts in a directory on an SSH server, over libcurl's SFTP (libssh2). Key authentication
/// only; the server's host key must be in a `known_hosts` file, and an unknown host is refused unless
/// the plan sets `accept_unknown_host: true`. A put uploads to a hidden temporary name and renames it
/// into place, so a broken upload never shows under a final name. It does not retry by itself: plans
/// build it inside a ``RetryingSink``, which tries transient failures (resets, timeouts) again.
///
/// ```yaml
/// - name: nas
///   type: sftp
///   url: sftp://backup@nas.example.com:22/srv/backups/schedgen
///   private_key_file: /etc/backupctl/id_ed25519
///   known_hosts_file: /etc/backupctl/known_hosts
/// ```
public struct SFTPSink: Sink {
    /// The plan file's `type:` for this sink.
    public static let typeName = "sftp"

    public struct Configuration: Sendable, Hashable {
        /// `sftp://user@host:port/absolute/directory`.
        public var url: String
        public var privateKeyFile: String
        /// Default: the private key's path plus `.pub` when that exists.
        public var publicKeyFile: String?
        public var passphrase: Secret?
        /// Default: `~/.ssh/known_hosts`.
        public var knownHostsFile: String?
        /// Trust a host that is not in the known_hosts file (a changed key is refused all the same).
        public var acceptUnknownHost: Bool

        public init(url: String, privateKeyFile: String, publicKeyFile: String? = nil, passphrase: Secret? = nil,
                    knownHostsFile: String? = nil, acceptUnknownHost: Bool = false) {
            self.url = url
            self.privateKeyFile = privateKeyFile
            self.publicKeyFile = publicKeyFile
            self.passphrase = passphrase
            self.knownHostsFile = knownHostsFile
            self.acceptUnknownHost = acceptUnknownHost
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url
            case privateKeyFile = "private_key_file"
            case publicKeyFile = "public_key_file"
            case passphrase
            case passphraseFile = "passphrase_file"
            case knownHostsFile = "known_hosts_file"
            case acceptUnknownHost = "accept_unknown_host"
        }

        public init(from decoder: any Decoder, baseDirectory: String) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.sink)
            url = try container.decode(String.self, forKey: .url)
            guard let parsed = URLComponents(string: url), parsed.scheme == "sftp", parsed.host != nil, parsed.user != nil else {
                throw invalidValue(.url, in: container, "'\(Redaction.redactURLCredentials(url))' is not an sftp://user@host:port/directory URL")
            }
            guard parsed.password == nil else {
                throw invalidValue(.url, in: container, "passwords in the URL are not supported; use private_key_file")
            }
            let resolve = { (path: String) in resolvePath(path, against: baseDirectory) }
            privateKeyFile = resolve(try container.decode(String.self, forKey: .privateKeyFile))
            publicKeyFile = try container.decodeIfPresent(String.self, forKey: .publicKeyFile).map(resolve)
            passphrase = try container.decodeSecretIfPresent(.passphrase, fileKey: .passphraseFile, resolvingPathsAgainst: baseDirectory)
            knownHostsFile = try container.decodeIfPresent(String.self, forKey: .knownHostsFile).map(resolve)
            acceptUnknownHost = try container.decodeIfPresent(Bool.self, forKey: .acceptUnknownHost) ?? false
        }
    }

    public let name: String
    public let configuration: Configuration

    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
    }

    public var capabilities: SinkCapabilities { SinkCapabilities(boundedMemory: true) }

    /// The directory URL, ending in `/`, and its path on the server.
    var directory: (url: String, path: String) {
        var url = configuration.url
        if !url.hasSuffix("/") { url += "/" }
        let path = URLComponents(string: url)?.percentEncodedPath.removingPercentEncoding ?? "/"
        return (url, path.hasSuffix("/") ? path : path + "/")
    }

    /// The user name in the URL.
    var user: String { URLComponents(string: configuration.url)?.user ?? "in the URL" }

    var location: String {
        guard let parsed = URLComponents(string: configuration.url) else { return configuration.url }
        return "\(parsed.user ?? "")@\(parsed.host ?? ""):\(parsed.port ?? 22)\(parsed.path)"
    }

    /// A request with key authentication and host key checking set up.
    func request(_ url: String) throws -> CurlRequest {
        let knownHosts = configuration.knownHostsFile ?? ((ProcessInfo.processInfo.environment["HOME"] ?? "/root") + "/.ssh/known_hosts")
        if !configuration.acceptUnknownHost && !FileManager.default.fileExists(atPath: knownHosts) {
            throw BackupError(.sinkFailed, "sftp sink '\(name)': the known_hosts file \(knownHosts) does not exist, so the server cannot be checked. Add the server's key (ssh-keyscan -p PORT HOST >> \(knownHosts)), or set accept_unknown_host: true.")
        }
        let curl = try CurlRequest(url: url)
        try curl.set(CURLOPT_SSH_AUTH_TYPES, Int(CURLSSH_AUTH_PUBLICKEY))
        try curl.set(CURLOPT_SSH_PRIVATE_KEYFILE, configuration.privateKeyFile)
        let publicKey = configuration.publicKeyFile ?? configuration.privateKeyFile + ".pub"
        if FileManager.default.fileExists(atPath: publicKey) { try curl.set(CURLOPT_SSH_PUBLIC_KEYFILE, publicKey) }
        if let passphrase = configuration.passphrase { try curl.set(CURLOPT_KEYPASSWD, try passphrase.reveal()) }
        try curl.set(CURLOPT_SSH_KNOWNHOSTS, knownHosts)
        try curl.setSSHKeyPolicy(acceptUnknown: configuration.acceptUnknownHost)
        return curl
    }

    /// Runs a transfer and turns SSH failures into messages that name the fix.
    func perform(_ curl: CurlRequest, what: String) throws -> CurlRequest.Response {
        do {
            return try curl.perform()
        } catch let error as BackupError {
            // libcurl's own text tells SFTP's answers apart where its code does not (a quote command's
            // "No such file"); it is matched here, never shown.
            let failure = error.underlying as? CurlFailure
            let text = failure?.detail ?? error.message
            let prefix = "sftp sink '\(name)' (\(location)): \(what)"
            if failure?.code == CURLE_REMOTE_FILE_NOT_FOUND || text.contains("No such file") || text.contains("file not found") {
                throw BackupError(.notFound, "\(prefix): not found")
            }
            if failure?.code == CURLE_PEER_FAILED_VERIFICATION || text.contains("host key") || text.contains("knownhost") {
                throw BackupError(.sinkFailed, "\(prefix): the server's host key is not in \(configuration.knownHostsFile ?? "~/.ssh/known_hosts") or does not match it. Verify the key and add it (ssh-keyscan), or set accept_unknown_host: true for a new host.")
            }
            if failure?.code == CURLE_LOGIN_DENIED || text.contains("Authentication failure") || text.contains("username/password") {
                throw BackupError(.authenticationFailed, "\(prefix): the server refused the key \(configuration.privateKeyFile). Check that its public key is in the user's authorized_keys.")
            }
            if failure?.code == CURLE_REMOTE_ACCESS_DENIED || text.contains("Permission denied") {
                throw BackupError(.sinkFailed, "\(prefix): permission denied in \(directory.path) on the server. Give the user \(user) write access to that directory (chown or chmod there), or choose another one in url:.")
            }
            throw BackupError(error.code == .unreachable ? .unreachable : .sinkFailed, "\(prefix): \(error.message)", kind: error.kind, underlying: failure)
        }
    }

    /// Runs an upload into the directory. A "not found" there means the directory is missing and could
    /// not be made (libcurl makes missing directories, and says only that the file cannot be opened).
    func performUpload(_ curl: CurlRequest, what: String) throws {
        do {
            _ = try perform(curl, what: what)
        } catch let error as BackupError where error.code == .notFound {
            throw BackupError(.sinkFailed, "sftp sink '\(name)' (\(location)): \(what): the directory \(directory.path) does not exist on the server and could not be made. Create it and give the user \(user) write access to it (chown or chmod there), or fix the directory in url:.")
        }
    }

    @discardableResult
    public func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        try Self.validate(key)
        return try await runBlocking {
            let (url, path) = directory
            let temporary = ".\(key).tmp-\(String(UInt32.random(in: .min ... .max), radix: 36))"
            let reader = try file.open()
            var sent: Int64 = 0
            let curl = try request(url + temporary)
            try curl.set(CURLOPT_UPLOAD, 1)
            try curl.set(CURLOPT_FTP_CREATE_MISSING_DIRS, Int(CURLFTP_CREATE_DIR.rawValue))
            // Artifacts are private on the server too: libcurl's defaults would be 0644 and 0755.
            try curl.set(CURLOPT_NEW_FILE_PERMS, 0o600)
            try curl.set(CURLOPT_NEW_DIRECTORY_PERMS, 0o700)
            try curl.setBody(length: file.digest.size) { buffer in
                let count = try reader.read(into: buffer)
                sent += Int64(count)
                // Stop the transfer (so the rename never runs) when the file ends before its recorded size.
                if count == 0 && sent != file.digest.size {
                    throw BackupError(.io, "the staged file \(file.path) held \(sent) bytes, not the \(file.digest.size) it was written with")
                }
                return count
            }
            // After the upload: move any old copy aside (SFTP's rename does not replace), give the new one
            // its final name, then remove the old one. A break in between leaves the old copy under a
            // hidden name, never nothing at all.
            let aside = ".\(key).old-\(String(UInt32.random(in: .min ... .max), radix: 36))"
            try curl.setQuote(CURLOPT_POSTQUOTE, ["*rename \(Self.quote(path + key)) \(Self.quote(path + aside))",
                                                 "rename \(Self.quote(path + temporary)) \(Self.quote(path + key))",
                                                 "*rm \(Self.quote(path + aside))"])
            do {
                try performUpload(curl, what: "uploading \(key)")
            } catch {
                try? removeQuietly(path + temporary)
                throw error
            }
            guard let stored = try listDirectory().first(where: { $0.key == key }), stored.size == file.digest.size else {
                throw BackupError(.sinkFailed, "sftp sink '\(name)': after uploading \(key), the server does not list it with \(file.digest.size) bytes")
            }
            return StoreReceipt(checks: ["size"])
        }
    }

    /// Connects, logs in, checks the host key, and writes and removes a hidden probe file in the
    /// directory (made when missing, as a put would): what every put needs.
    public func preflight() async throws {
        try await runBlocking {
            let (url, path) = directory
            let probe = ".backupctl-preflight.tmp-\(String(UInt32.random(in: .min ... .max), radix: 36))"
            let curl = try request(url + probe)
            try curl.set(CURLOPT_UPLOAD, 1)
            try curl.set(CURLOPT_FTP_CREATE_MISSING_DIRS, Int(CURLFTP_CREATE_DIR.rawValue))
            try curl.set(CURLOPT_NEW_FILE_PERMS, 0o600)
            try curl.set(CURLOPT_NEW_DIRECTORY_PERMS, 0o700)
            try curl.setBody(Array("backupctl preflight probe\n".utf8))
            try curl.setQuote(CURLOPT_POSTQUOTE, ["rm \(Self.quote(path + probe))"])
            try performUpload(curl, what: "checking that \(path) can be written")
        }
    }

    public func get(_ key: String, into output: ByteDestination) async throws {
        try Self.validate(key)
        try await runBlocking {
            let curl = try request(directory.url + key)
            curl.onData { try output.write($0) }
            _ = try perform(curl, what: "downloading \(key)")
        }
    }

    public func list() async throws -> [StoredObject] {
        try await runBlocking { try listDirectory() }
    }

    public func delete(_ key: String) async throws {
        try Self.validate(key)
        try await runBlocking {
            guard try listDirectory().contains(where: { $0.key == key }) else {
                throw BackupError(.notFound, "sftp sink '\(name)' has no \(key)")
            }
            let curl = try request(directory.url)
            try curl.set(CURLOPT_NOBODY, 1)
            try curl.setQuote(CURLOPT_QUOTE, ["rm \(Self.quote(directory.path + key))"])
            _ = try perform(curl, what: "deleting \(key)")
        }
    }

    func removeQuietly(_ path: String) throws {
        let curl = try request(directory.url)
        try curl.set(CURLOPT_NOBODY, 1)
        try curl.setQuote(CURLOPT_QUOTE, ["*rm \(Self.quote(path))"])
        _ = try curl.perform()
    }

    /// The directory's regular files that are not hidden, from its long listing.
    func listDirectory() throws -> [StoredObject] {
        let curl = try request(directory.url)
        let response: CurlRequest.Response
        do {
            response = try perform(curl, what: "listing the directory")
        } catch let error as BackupError where error.code == .notFound {
            return []
        }
        return String(decoding: response.body, as: UTF8.self).split(separator: "\n").compactMap { line in
            // -rw-------    1 user     group     1234 Nov 26 16:41 name
            let fields = line.split(separator: " ", maxSplits: 8, omittingEmptySubsequences: true)
            guard fields.count == 9, fields[0].hasPrefix("-"), let size = Int64(fields[4]) else { return nil }
            let name = String(fields[8]).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.hasPrefix(".") else { return nil }
            return StoredObject(key: name, size: size)
        }
    }

    static func validate(_ key: String) throws {
        guard !key.isEmpty, !key.contains("/"), !key.hasPrefix("."), !key.contains("\""), !key.contains("\n") else {
            throw BackupError(.usage, "'\(key)' is not a valid artifact key")
        }
    }

    /// A path quoted for a libcurl SFTP quote command.
    static func quote(_ path: String) -> String { "\"\(path)\"" }
}

extension CurlRequest {
    /// Host keys must be known: with `acceptUnknown`, a host missing from the file is trusted (for a
    /// first connection), while a host whose key changed is always refused.
    func setSSHKeyPolicy(acceptUnknown: Bool) throws {
        guard acceptUnknown else { return }
        try setSSHKeyCallback(sshAcceptUnknownHost)
    }
}

private let sshAcceptUnknownHost: curl_sshkeycallback = { _, _, _, match, _ in
    match == CURLKHMATCH_OK || match == CURLKHMATCH_MISSING ? Int32(CURLKHSTAT_FINE.rawValue) : Int32(CURLKHSTAT_REJECT.rawValue)
}
