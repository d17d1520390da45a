import BackupKit
import Foundation

/// How to reach an S3-compatible store (AWS S3, MinIO, SeaweedFS, Cloudflare R2, Backblaze B2): the
/// settings the `s3` sink and the `s3-bucket` source share.
public struct S3Settings: Sendable, Hashable {
    /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`.
    public var endpoint: String
    public var region: String
    public var bucket: String
    /// A key prefix such as `schedgen/`; everything this component stores or reads lives below it.
    public var prefix: String
    /// `https://endpoint/bucket/key` when true, `https://bucket.endpoint/key` when false. Default: virtual
    /// host for amazonaws.com, path style for everything else (MinIO, SeaweedFS, R2 accept both).
    public var pathStyle: Bool
    public var accessKey: Secret?
    public var secretKey: Secret?
    public var sessionToken: Secret?
    /// A shared credentials file (`~/.aws/credentials` format) and its profile.
    public var credentialsFile: String?
    public var profile: String?
    /// `x-amz-storage-class`, such as `STANDARD_IA` or `GLACIER_IR`.
    public var storageClass: String?
    /// `x-amz-server-side-encryption`: `AES256` or `aws:kms` (with ``kmsKeyID``).
    public var serverSideEncryption: String?
    public var kmsKeyID: String?
    /// A CA bundle for a private certificate authority.
    public var caFile: String?
    /// The multipart part size; raised as needed so that no upload has more than 10,000 parts. Default 16 MiB.
    public var partSize: Int64
    /// Parts uploaded at once. Default 4.
    public var concurrency: Int
    /// Attempts per request before a transient failure counts as permanent. Default 5.
    public var maxAttempts: Int
    /// How old an unfinished multipart upload of the plan's own keys must be before a run aborts it, in
    /// seconds (`abandoned_upload_age`). No run still going started its upload that long ago, even on
    /// another host sharing the prefix. Default 24 hours.
    public var abandonedUploadAge: Double
    /// How long a transfer may move less than 1 KiB/s before it counts as stalled and is retried, in
    /// seconds (`stall_timeout`). Default 60.
    public var stallTimeout: Double

    public init(endpoint: String, region: String = "us-east-1", bucket: String, prefix: String = "", pathStyle: Bool? = nil,
                accessKey: Secret? = nil, secretKey: Secret? = nil, sessionToken: Secret? = nil, credentialsFile: String? = nil,
                profile: String? = nil, storageClass: String? = nil, serverSideEncryption: String? = nil, kmsKeyID: String? = nil,
                caFile: String? = nil, partSize: Int64 = 16 << 20, concurrency: Int = 4, maxAttempts: Int = 5, abandonedUploadAge: Double = 86400,
                stallTimeout: Double = 60) {
        self.endpoint = endpoint.trimmingSuffix("/")
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.pathStyle = pathStyle ?? !endpoint.contains("amazonaws.com")
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.credentialsFile = credentialsFile
        self.profile = profile
        self.storageClass = storageClass
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyID = kmsKeyID
        self.caFile = caFile
        self.partSize = partSize
        self.concurrency = concurrency
        self.maxAttempts = maxAttempts
        self.abandonedUploadAge = abandonedUploadAge
        self.stallTimeout = stallTimeout
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case endpoint, region, bucket, prefix, profile, concurrency
        case pathStyle = "path_style"
        case accessKey = "access_key", accessKeyFile = "access_key_file"
        case secretKey = "secret_key", secretKeyFile = "secret_key_file"
        case sessionToken = "session_token", sessionTokenFile = "session_token_file"
        case credentialsFile = "credentials_file"
        case storageClass = "storage_class"
        case serverSideEncryption = "server_side_encryption"
        case kmsKeyID = "sse_kms_key_id"
        case caFile = "ca_file"
        case partSize = "part_size"
        case maxAttempts = "max_attempts"
        case abandonedUploadAge = "abandoned_upload_age"
        case stallTimeout = "stall_timeout"
    }

    /// The keys that only make sense for uploads, which a source refuses.
    static let uploadKeys: Set<CodingKeys> = [.storageClass, .serverSideEncryption, .kmsKeyID, .partSize, .concurrency, .abandonedUploadAge]

    /// Decodes the settings with strict keys; `forUploads: false` refuses the upload-only keys, and
    /// `alsoAllowed` are the component's own keys. Relative file paths resolve against `baseDirectory`.
    package init(from decoder: any Decoder, forUploads: Bool, alsoAllowed: Set<String>, baseDirectory: String) throws {
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: alsoAllowed)
        if !forUploads, let key = Self.uploadKeys.first(where: { container.contains($0) }) {
            throw invalidValue(key, in: container, "'\(key.stringValue)' applies to uploads (the s3 sink), not to reading a bucket")
        }
        let endpoint = try container.decode(String.self, forKey: .endpoint)
        guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw invalidValue(.endpoint, in: container, "'\(endpoint)' is not an http(s) URL such as https://s3.eu-central-1.amazonaws.com")
        }
        let bucket = try container.decode(String.self, forKey: .bucket)
        guard Self.isValidBucketName(bucket) else {
            throw invalidValue(.bucket, in: container, "'\(bucket)' is not a valid bucket name: 3 to 63 lower-case letters, digits, '.' and '-'")
        }
        var prefix = try container.decodeIfPresent(String.self, forKey: .prefix) ?? ""
        while prefix.hasPrefix("/") { prefix.removeFirst() }
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        let resolve = { (path: String) in BackupKit.resolvePath(path, against: baseDirectory) }
        let partSize = try container.decodeIfPresent(ByteSize.self, forKey: .partSize)?.bytes ?? 16 << 20
        guard partSize >= 5 << 20 else { throw invalidValue(.partSize, in: container, "must be at least 5MiB, the S3 minimum") }
        let concurrency = try container.decodeIfPresent(Int.self, forKey: .concurrency) ?? 4
        guard (1...64).contains(concurrency) else { throw invalidValue(.concurrency, in: container, "must be between 1 and 64") }
        let attempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? 5
        guard (1...20).contains(attempts) else { throw invalidValue(.maxAttempts, in: container, "must be between 1 and 20") }
        let abandonedAge = try container.decodeIfPresent(PlanDuration.self, forKey: .abandonedUploadAge)?.seconds ?? 86400
        guard abandonedAge >= 1 else {
            throw invalidValue(.abandonedUploadAge, in: container, "must be at least 1s (an upload younger than the longest run of any host writing to this prefix may belong to a run still going)")
        }
        let stallTimeout = try container.decodeIfPresent(PlanDuration.self, forKey: .stallTimeout)?.seconds ?? 60
        guard (1...3600).contains(stallTimeout) else {
            throw invalidValue(.stallTimeout, in: container, "must be between 1s and 1h")
        }
        func secret(_ key: CodingKeys, _ file: CodingKeys) throws -> Secret? {
            try container.decodeSecretIfPresent(key, fileKey: file, resolvingPathsAgainst: baseDirectory)
        }
        self.init(
            endpoint: endpoint, region: try container.decodeIfPresent(String.self, forKey: .region) ?? "us-east-1", bucket: bucket,
            prefix: prefix, pathStyle: try container.decodeIfPresent(Bool.self, forKey: .pathStyle),
            accessKey: try secret(.accessKey, .accessKeyFile), secretKey: try secret(.secretKey, .secretKeyFile),
            sessionToken: try secret(.sessionToken, .sessionTokenFile),
            credentialsFile: try container.decodeIfPresent(String.self, forKey: .credentialsFile).map(resolve),
            profile: try container.decodeIfPresent(String.self, forKey: .profile),
            storageClass: try container.decodeIfPresent(String.self, forKey: .storageClass),
            serverSideEncryption: try container.decodeIfPresent(String.self, forKey: .serverSideEncryption),
            kmsKeyID: try container.decodeIfPresent(String.self, forKey: .kmsKeyID),
            caFile: try container.decodeIfPresent(String.self, forKey: .caFile).map(resolve),
            partSize: partSize, concurrency: concurrency, maxAttempts: attempts, abandonedUploadAge: abandonedAge,
            stallTimeout: stallTimeout
        )
    }

    package static func isValidBucketName(_ name: String) -> Bool {
        guard (3...63).contains(name.count), let first = name.first, let last = name.last,
              first.isLetter || first.isNumber, last.isLetter || last.isNumber else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }
    }

    /// The endpoint's `host:port` (the host alone when the URL gives no port), for messages.
    package var endpointHost: String {
        guard let components = URLComponents(string: endpoint), let host = components.host else { return endpoint }
        return components.port.map { "\(host):\($0)" } ?? host
    }

    /// `s3://bucket/prefix` at the endpoint, for messages.
    public var location: String { "s3://\(bucket)/\(prefix) at \(endpoint)" }
}

/// Access keys for S3, resolved from the plan, the `AWS_*` environment variables, or a credentials file.
struct S3Credentials: Sendable {
    var accessKey: String
    var secretKey: String
    var sessionToken: String?

    static func resolve(_ settings: S3Settings, environment: [String: String], component: String) throws -> S3Credentials {
        if let accessKey = settings.accessKey, let secretKey = settings.secretKey {
            return S3Credentials(accessKey: try accessKey.reveal(), secretKey: try secretKey.reveal(), sessionToken: try settings.sessionToken?.reveal())
        }
        if settings.accessKey == nil, settings.secretKey == nil,
           let accessKey = environment["AWS_ACCESS_KEY_ID"], let secretKey = environment["AWS_SECRET_ACCESS_KEY"], !accessKey.isEmpty, !secretKey.isEmpty {
            return S3Credentials(accessKey: accessKey, secretKey: secretKey, sessionToken: environment["AWS_SESSION_TOKEN"])
        }
        let path = settings.credentialsFile ?? environment["AWS_SHARED_CREDENTIALS_FILE"] ?? (environment["HOME"].map { $0 + "/.aws/credentials" })
        let profile = settings.profile ?? environment["AWS_PROFILE"] ?? "default"
        if let path, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            var section = ""
            var values: [String: String] = [:]
            for rawLine in text.split(whereSeparator: \.isNewline) {
                let line = rawLine.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("[") && line.hasSuffix("]") {
                    section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                } else if section == profile, let equals = line.firstIndex(of: "=") {
                    values[line[..<equals].trimmingCharacters(in: .whitespaces)] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                }
            }
            if let accessKey = values["aws_access_key_id"], let secretKey = values["aws_secret_access_key"] {
                return S3Credentials(accessKey: accessKey, secretKey: secretKey, sessionToken: values["aws_session_token"])
            }
        }
        let which = settings.accessKey == nil ? "access_key" : "secret_key"
        throw BackupError(.missingCredentials, "\(component): no S3 credentials (\(which) is missing). Set access_key and secret_key_file in the plan, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a credentials file (credentials_file, AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials) with profile '\(profile)'.")
    }
}

extension S3Settings {
    /// The variables ``environmentEntry(prefix:environment:bucket:)`` reads after `prefix`.
    static let environmentSuffixes = ["ENDPOINT", "BUCKET", "PREFIX", "REGION", "ACCESS_KEY", "SECRET_KEY", "CA_FILE"]

    /// The names of the variables an S3 component built from the environment reads, such as
    /// `BACKUP_OFFSITE_S3_ENDPOINT`.
    public static func environmentVariables(prefix: String) -> [String] {
        environmentSuffixes.map { prefix + $0 }
    }

    /// An `s3` sink's or `s3-bucket` source's plan entry from `<prefix>ENDPOINT`, `BUCKET` (unless
    /// `bucket` is given), `PREFIX`, `REGION`, `ACCESS_KEY` and `SECRET_KEY` (or their `_FILE` forms; else
    /// the `AWS_*` variables) and `CA_FILE`. A missing endpoint or bucket is
    /// an error that names the variable.
    public static func environmentEntry(prefix: String, environment: [String: String], bucket: String? = nil) throws -> [String: JSONValue] {
        func value(_ suffix: String) -> String? { environment[prefix + suffix].flatMap { $0.isEmpty ? nil : $0 } }
        guard let endpoint = value("ENDPOINT") else {
            throw BackupError(.invalidPlan, "\(prefix)ENDPOINT is not set: set it to the S3 server's URL, such as https://s3.eu-central-1.amazonaws.com or http://minio:9000")
        }
        guard let bucket = bucket ?? value("BUCKET") else {
            throw BackupError(.invalidPlan, "\(prefix)BUCKET is not set: set it to the bucket's name")
        }
        var entry: [String: JSONValue] = ["endpoint": .string(endpoint), "bucket": .string(bucket)]
        let keys = ["PREFIX": "prefix", "REGION": "region", "ACCESS_KEY": "access_key", "SECRET_KEY": "secret_key", "CA_FILE": "ca_file"]
        for (suffix, key) in keys { if let text = value(suffix) { entry[key] = .string(text) } }
        if (entry["access_key"] == nil) != (entry["secret_key"] == nil) {
            throw BackupError(.missingCredentials, "\(prefix)ACCESS_KEY and \(prefix)SECRET_KEY go together: set both (or neither, to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
        return entry
    }
}
