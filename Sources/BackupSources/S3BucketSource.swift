import BackupKit
import BackupTransport
import Foundation

extension RestoreDestination.Kind {
    /// An S3 bucket (`--to-bucket NAME`), on the source's endpoint.
    public static let bucket = RestoreDestination.Kind(rawValue: "bucket")
}

extension RestoreDestination {
    public static func bucket(_ name: String) -> RestoreDestination { RestoreDestination(kind: .bucket, value: name) }
}

/// Backs up every object of a bucket (MinIO's `schedgen-pdfs`, say) through the S3 API into one tar
/// archive: listed page by page, each object streamed into its entry with the key as the path, its
/// content type, other standard headers and user metadata kept as pax attributes. The artifact is
/// `<source>_<bucket>_<ts>.tar.gz`. Restores upload the objects back into a bucket with their metadata
/// (`--to-bucket NAME`), or extract them as files (`--to DIR`).
///
/// ```yaml
/// - name: minio
///   type: s3-bucket
///   endpoint: http://127.0.0.1:9000
///   bucket: schedgen-pdfs
///   access_key: ${MINIO_ACCESS_KEY}
///   secret_key_file: /run/secrets/minio_secret_key
///   mode: incremental      # default: full (one tar of every object per set)
/// ```
///
/// `mode: incremental` downloads only the objects whose size, ETag or LastModified changed since the
/// previous set, and stores content no earlier set holds in packs (docs/incremental-sets.md).
public struct S3BucketSource: BackupSource {
    public let name: String
    public let settings: S3Settings
    public let environment: [String: String]
    /// `full` (a tar of every object in each set) or `incremental`.
    public let mode: BackupMode
    /// The plan file's `type:` for this source.
    public static let typeName = "s3-bucket"
    /// The prefix of the variables that describe the server of `BACKUP_SOURCE_BUCKETS`
    /// (`BACKUP_SOURCE_S3_ENDPOINT`...; see ``S3Settings/environmentEntry(prefix:environment:bucket:)``).
    public static let environmentPrefix = "BACKUP_SOURCE_S3_"
    public var type: String { Self.typeName }

    public init(name: String, settings: S3Settings, environment: [String: String] = ProcessInfo.processInfo.environment, mode: BackupMode = .full) {
        self.name = name
        self.settings = settings
        self.environment = environment
        self.mode = mode
    }

    /// The headers kept with each object, besides `x-amz-meta-*`.
    static let keptHeaders = ["content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires"]
    static let attributePrefix = "s3."
    /// Marks a directory entry that was an S3 folder marker (an empty object whose key ends in `/`).
    static let folderMarkerAttribute = "s3.folder-marker"

    /// The bucket it was backed up from, on the source's endpoint.
    public func defaultRestoreDestination(for artifact: ManifestArtifact) -> RestoreDestination? {
        .bucket(settings.bucket)
    }

    func client(bucket: String? = nil) throws -> S3Client {
        var settings = settings
        if let bucket { settings.bucket = bucket }
        return try S3Client(settings: settings, environment: environment, component: "s3-bucket source '\(name)' (\(settings.location))")
    }

    public func prepare(_ context: SourceContext) async throws -> [SourceArtifact] {
        let client = try client()
        return try await runBlocking {
            guard try client.bucketExists() else {
                throw BackupError(.sourceFailed, "s3-bucket source '\(name)': the bucket '\(settings.bucket)' does not exist at \(settings.endpoint). Check 'bucket' and 'endpoint'.")
            }
            // An incremental run lists the bucket once, as it goes: counting it here would list it twice.
            if mode == .incremental {
                var index = SourceArtifact.incrementalIndex(subject: settings.bucket)
                index.details.merge(["bucket": .string(settings.bucket), "endpoint": .string(settings.endpoint)]) { own, _ in own }
                return [index]
            }
            var count = 0
            var bytes: Int64 = 0
            try client.list(prefix: settings.prefix) { page in
                count += page.count
                bytes += page.reduce(0) { $0 + $1.size }
            }
            return [SourceArtifact(subject: settings.bucket, content: .tree, expectedContentBytes: bytes,
                                   details: ["bucket": .string(settings.bucket), "objects": .integer(Int64(count)), "endpoint": .string(settings.endpoint)])]
        }
    }

    public func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
        let client = try client()
        if artifact.isIncrementalIndex {
            guard let session = context.incremental else {
                throw BackupError(.sourceFailed, "s3-bucket source '\(name)': an incremental set is written by the runner, which gives the source its session")
            }
            return try IncrementalBucketBackup(source: self, client: client, session: session, context: context).backUp(into: archive)
        }
        var objects: Int64 = 0
        var bytes: Int64 = 0
        var directories = Set<String>()
        try client.list(prefix: settings.prefix) { page in
            for object in page {
                try context.checkCancellation()
                let key = object.key
                if key.hasSuffix("/") {
                    // A folder marker: an empty object whose key ends in a slash.
                    let path = String(key.dropLast())
                    guard !path.isEmpty, directories.insert(path).inserted else { continue }
                    try archive.beginEntry(ArchiveEntry(path: RawPath(path), kind: .directory, permissions: 0o755,
                                                        modificationTime: Self.fileTime(object.lastModified), attributes: [Self.folderMarkerAttribute: "true"]))
                    try archive.endEntry()
                    objects += 1
                    continue
                }
                if (try? EntrySafety.checkPath(RawPath(key))) == nil {
                    context.warn("the key '\(key)' is not a safe file path; it can be restored to a bucket but not to a directory")
                }
                var entrySize: Int64 = 0
                var written: Int64 = 0
                try client.get(key, onHeaders: { size, headers in
                    var attributes: [String: String] = [:]
                    for name in Self.keptHeaders { if let value = headers[name] { attributes[Self.attributePrefix + name] = value } }
                    for (header, value) in headers where header.hasPrefix("x-amz-meta-") {
                        attributes[Self.attributePrefix + "meta." + header.dropFirst("x-amz-meta-".count)] = value
                    }
                    entrySize = size >= 0 ? size : object.size
                    let modified = headers["last-modified"].flatMap(Self.parseHTTPDate) ?? object.lastModified
                    try archive.beginEntry(ArchiveEntry(path: RawPath(key), kind: .file, size: entrySize, permissions: 0o644,
                                                        modificationTime: Self.fileTime(modified), attributes: attributes))
                }, onData: { chunk in
                    try archive.write(chunk)
                    written += Int64(chunk.count)
                    context.progress(Int64(chunk.count))
                })
                guard written == entrySize else {
                    throw BackupError(.sourceFailed, "s3-bucket source '\(name)': \(key) delivered \(written) of its \(entrySize) bytes")
                }
                try archive.endEntry()
                objects += 1
                bytes += written
            }
        }
        return SourceReport(details: ["objects": .integer(objects), "object_bytes": .integer(bytes)])
    }

    public func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
        switch request.destination.kind {
        case .directory:
            return try TreeRestore.restore(request, from: archive, context: context)
        case .bucket:
            return try restoreToBucket(request, from: archive, context: context)
        default:
            throw BackupError(.usage, "\(request.artifact.name) holds a bucket's objects; restore it with --to-bucket NAME or --to DIR")
        }
    }

    /// Uploads every object back with its content type and metadata, into a bucket that is created when
    /// missing and must be empty unless `force`.
    func restoreToBucket(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
        let target = request.destination.value
        guard S3Settings.isValidBucketName(target) else { throw BackupError(.usage, "'\(target)' is not a valid bucket name") }
        let client = try client(bucket: target)
        if try client.bucketExists() {
            var holdsObjects = false
            try client.list(prefix: "", pageSize: 1) { if !$0.isEmpty { holdsObjects = true } }
            if holdsObjects && !request.force {
                throw BackupError(.restoreFailed, "the bucket '\(target)' already holds objects. Choose an empty or new bucket, or pass --force to upload into it (objects with the same keys are replaced).")
            }
        } else {
            try client.createBucket()
        }
        var objects = 0
        var bytes: Int64 = 0
        while let entry = try archive.nextEntry() {
            try context.checkCancellation()
            guard let key = entry.path.string else {
                throw BackupError(.restoreFailed, "the entry '\(entry.path.shortenedForMessage)' has a name that is not UTF-8, which no S3 key can hold; restore it to a directory instead")
            }
            switch entry.kind {
            case .directory where entry.attributes[Self.folderMarkerAttribute] == "true":
                // An incremental set keeps the marker's key with its slash; a tar entry's path has none.
                try client.upload(length: 0, as: key.hasSuffix("/") ? key : key + "/", headers: []) { _ in 0 }
            case .file:
                var headers: [String] = []
                for (name, value) in entry.attributes where name.hasPrefix(Self.attributePrefix) {
                    let header = String(name.dropFirst(Self.attributePrefix.count))
                    headers.append(header.hasPrefix("meta.") ? "x-amz-meta-\(header.dropFirst(5)): \(value)" : "\(header): \(value)")
                }
                try client.upload(length: entry.size, as: key, headers: headers.sorted()) { try archive.read(into: $0) }
                bytes += entry.size
            default:
                continue
            }
            objects += 1
        }
        var report = RestoreReport(artifact: request.artifact.name, destination: "bucket \(target) at \(settings.endpoint)", entries: objects, bytes: bytes)
        // Every archived entry is one object: the count must be the manifest's.
        if request.artifact.entries > 0 { report.check(entriesRecorded: request.artifact.entries) }
        return report
    }

    static func fileTime(_ date: Date?) -> FileTime {
        FileTime(seconds: Int64((date ?? Date(timeIntervalSince1970: 0)).timeIntervalSince1970))
    }

    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}

extension PlanRegistry {
    /// Registers the `s3-bucket` source type.
    public mutating func registerS3BucketSource() {
        registerSource(type: S3BucketSource.typeName) { definition, decoder in
            S3BucketSource(name: definition.name, settings: try S3Settings(from: decoder, forUploads: false, alsoAllowed: PlanKeys.source.union(["mode"]),
                                                                            baseDirectory: definition.baseDirectory),
                           environment: definition.environment, mode: try SourceModeSetting(from: decoder).mode ?? .full)
        }
    }
}

/// The `mode:` key of a source whose other keys another type decodes.
struct SourceModeSetting: Decodable {
    var mode: BackupMode?

    enum CodingKeys: String, CodingKey { case mode }

    init(from decoder: any Decoder) throws {
        mode = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(BackupMode.self, forKey: .mode)
    }
}
