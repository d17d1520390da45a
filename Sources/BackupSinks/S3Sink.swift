import BackupKit
import BackupTransport
import Foundation

/// Keeps artifacts in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Cloudflare R2, Backblaze B2)
/// under a key prefix, through BackupKit's own S3 client (libcurl's SigV4; no AWS SDK).
///
/// Uploads stream from the staged file with bounded memory; large ones go up as multipart uploads whose
/// part size keeps the part count within S3's 10,000, several parts at a time, each retried on transient
/// failures, and aborted when the upload fails for good. Every request carries the body's MD5 and
/// SHA-256, and afterwards the stored size and ETag are confirmed; the receipt lands in the manifest.
/// Each run aborts the plan's multipart uploads that a killed or stalled run left open
/// (``abortAbandonedUploads(isOurs:)``).
///
/// ```yaml
/// - name: offsite
///   type: s3
///   endpoint: https://s3.eu-central-1.amazonaws.com
///   region: eu-central-1
///   bucket: acme-backups
///   prefix: schedgen/
///   access_key: ${AWS_ACCESS_KEY_ID}
///   secret_key: ${AWS_SECRET_ACCESS_KEY}
/// ```
public struct S3Sink: Sink, AbandonedUploadSweeping {
    /// The plan file's `type:` for this sink.
    public static let typeName = "s3"

    public let name: String
    public let settings: S3Settings
    public let environment: [String: String]

    public init(name: String, settings: S3Settings, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.name = name
        self.settings = settings
        self.environment = environment
    }

    public var capabilities: SinkCapabilities { SinkCapabilities(boundedMemory: true) }

    func client() throws -> S3Client {
        try S3Client(settings: settings, environment: environment, component: "s3 sink '\(name)' (\(settings.location))")
    }

    @discardableResult
    public func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        let client = try client()
        return try await client.upload(file: file, as: client.objectKey(key))
    }

    public func get(_ key: String, into output: ByteDestination) async throws {
        let client = try client()
        try await runBlocking {
            try client.get(client.objectKey(key)) { try output.write($0) }
        }
    }

    public func list() async throws -> [StoredObject] {
        let prefix = settings.prefix
        return try await client().list(prefix: prefix).compactMap { object in
            let name = String(object.key.dropFirst(prefix.count))
            guard !name.isEmpty, !name.contains("/") else { return nil }
            return StoredObject(key: name, size: object.size, modified: object.lastModified)
        }
    }

    /// Checks the bucket (HEAD: it exists, and the keys are accepted), then that the keys may write in
    /// it: a small probe object under `<prefix>.backupctl-preflight/` is stored and deleted. ``list()``
    /// shows only names without a slash under the prefix, so the probe is never listed as a set file.
    public func preflight() async throws {
        let client = try client()
        let (bucket, endpoint, host, component) = (settings.bucket, settings.endpoint, settings.endpointHost, client.component)
        try await runBlocking {
            guard try client.bucketExists() else {
                throw BackupError(.sinkFailed, "\(component): the bucket '\(bucket)' does not exist at \(host). Create it (`aws s3 mb s3://\(bucket) --endpoint-url \(endpoint)`, or `mc mb`), or fix bucket: in the plan.")
            }
            let probe = client.objectKey(Self.probeKey)
            try client.put(Array("backupctl preflight probe\n".utf8), as: probe, what: "writing a probe object (\(probe)) to check the keys may write")
            // Keys that may write but not delete (append-only, object lock) still store sets: the probe,
            // a few bytes the listing leaves out, then stays, under one fixed name.
            try? client.delete(probe)
        }
    }

    /// The probe object's name under the prefix; the slash keeps it out of ``list()``.
    static let probeKey = ".backupctl-preflight/probe"

    /// Aborts the plan's multipart uploads under the prefix started at least `abandoned_upload_age` ago.
    public func abortAbandonedUploads(isOurs: @escaping @Sendable (String) -> Bool) async throws -> [String] {
        let client = try client()
        let prefix = settings.prefix
        return try await runBlocking { try client.abortAbandonedUploads(isOurs: isOurs).map { String($0.key.dropFirst(prefix.count)) } }
    }

    public func delete(_ key: String) async throws {
        let client = try client()
        try await runBlocking { try client.delete(client.objectKey(key)) }
    }
}

extension S3Sink: ObjectSplicing {
    /// The tail is copied inside the server (UploadPartCopy); only `head` and 5 MiB pass through here.
    public func splice(_ key: String, head: [UInt8], tailOf source: String, from offset: Int64, sourceSize: Int64) async throws {
        let client = try client()
        try await runBlocking {
            try client.splice(client.objectKey(key), head: head, source: client.objectKey(source), offset: offset, sourceSize: sourceSize)
        }
    }
}
