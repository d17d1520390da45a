import Crypto
import Foundation
import Glibc
import Logging
import Synchronization

/// Gives every encrypted set of a plan in one sink new recipients, without touching any payload: each
/// artifact's file key is unwrapped from its age header with the old identities and wrapped again for
/// the new recipients, and only the header is replaced (``ObjectSplicing`` where the sink can copy the
/// rest itself, else by reading and storing the object again). The sealed manifest is encrypted to the
/// new recipients too, and records the rekey.
///
/// Crash-safe in three steps per set: (1) the sealed manifest is signed again naming each artifact's new
/// header as *pending*, so that either header is genuine; (2) each artifact gets its new header; (3) the
/// sealed manifest is signed with the new headers only. A rekey that stopped halfway is finished by
/// running it again; in between, every artifact still restores.
public struct Rekeyer: Sendable {
    public var plan: BackupPlan
    public var logger: Logger

    public init(plan: BackupPlan, logger: Logger) {
        self.plan = plan
        self.logger = logger
    }

    public struct SetResult: Sendable, Codable {
        public var set: SetTimestamp
        public var artifacts: [String]
        /// How the headers were replaced: `server-side copy` or `read and stored again`.
        public var method: String

        enum CodingKeys: String, CodingKey {
            case artifacts, method
            case set = "timestamp"
        }
    }

    /// Rekeys every sealed set of the plan in `sink` (or only `timestamp`) from ``BackupPlan/identities``
    /// to `recipients`. Throws, naming the set, when an identity does not open one.
    public func rekey(sink: any Sink, to recipients: [AgeRecipient], only timestamp: SetTimestamp? = nil) async throws -> [SetResult] {
        guard !recipients.isEmpty else { throw BackupError(.usage, "give at least one new recipient (--recipient age1…)") }
        guard !plan.identities.isEmpty else { throw AgeFileReading.identityNeeded("the sets in sink '\(sink.name)'") }
        let signingKey = try ManifestSigningKey.load(from: plan.signingKeyPath)
        let catalog = try await plan.catalog(in: sink)
        let sets = catalog.sets.filter { $0.sealed != nil && (timestamp == nil || $0.timestamp == timestamp) }
        guard !sets.isEmpty else {
            throw BackupError(.notFound, "sink '\(sink.name)' holds no encrypted set of plan '\(plan.name)'\(timestamp.map { " at \($0)" } ?? "") to rekey")
        }
        var results: [SetResult] = []
        for entry in sets {
            guard let sealed = entry.sealed, let manifest = entry.manifest, let key = entry.manifestKey else {
                throw entry.sealedProblem ?? BackupError(.restoreFailed, "set \(entry.timestamp) in sink '\(sink.name)' cannot be rekeyed: \(entry.problem ?? "its manifest cannot be opened")")
            }
            guard entry.signature == .valid else {
                throw BackupError(.verificationFailed, "set \(entry.timestamp) in sink '\(sink.name)' is not signed by this plan's key (\(entry.problem ?? "signature not valid")): it is not rekeyed")
            }
            results.append(try await rekey(sealed, manifest: manifest, key: key, in: sink, to: recipients, signingKey: signingKey))
        }
        return results
    }

    private func rekey(_ sealed: SealedManifest, manifest: Manifest, key: String, in sink: any Sink, to recipients: [AgeRecipient],
                       signingKey: ManifestSigningKey) async throws -> SetResult {
        // The new headers, and what each artifact's stored header is now.
        var heads: [String: [UInt8]] = [:]
        var pending = sealed
        for (index, artifact) in sealed.artifacts.enumerated() {
            let header = try await readHeader(artifact, in: sink)
            let found = (header.count, SHA256.hash(data: header).hexString)
            if let done = artifact.pendingHeader, done.size == found.0, done.sha256 == found.1 {
                continue // given its new header by a rekey that stopped before step 3
            }
            guard artifact.headerSize == found.0, artifact.headerSHA256 == found.1 else {
                throw BackupError(.encryptedDataDamaged, "\(artifact.key) in sink '\(sink.name)' has a header the signed manifest does not list: it was changed; the set is not rekeyed")
            }
            let parsed = try AgeHeader(parsing: header)
            var fileKey: [UInt8]?
            for identity in plan.identities where fileKey == nil { fileKey = try identity.unwrap(parsed.stanzas) }
            guard let fileKey else {
                throw AgeFileReading.failure(.noMatch, what: "\(artifact.key) in sink '\(sink.name)'", headerChanged: false)
            }
            try parsed.verifyMAC(fileKey: fileKey)
            let stanzas = try recipients.map { try $0.stanza(wrapping: fileKey) }
            let head = AgeHeader(stanzas: stanzas, fileKey: fileKey).encoded
            heads[artifact.name] = head
            pending.artifacts[index].pendingHeader = .init(size: head.count, sha256: SHA256.hash(data: head).hexString)
        }
        // 1. Either header is genuine from now on.
        try await store(pending.signed(with: signingKey), key: key, in: sink)
        // 2. The new headers.
        let splicing = sink as? any ObjectSplicing
        for artifact in pending.artifacts {
            guard let head = heads[artifact.name] else { continue }
            if let splicing {
                try await splicing.splice(artifact.key, head: head, tailOf: artifact.key, from: Int64(artifact.headerSize), sourceSize: artifact.size)
            } else {
                try await rewrite(artifact, head: head, in: sink)
            }
        }
        // 3. Only the new headers, and the manifest inside for the new recipients.
        var final = pending
        for index in final.artifacts.indices {
            guard let header = final.artifacts[index].pendingHeader else { continue }
            final.artifacts[index].size = final.artifacts[index].payloadSize + Int64(header.size)
            final.artifacts[index].headerSize = header.size
            final.artifacts[index].headerSHA256 = header.sha256
            final.artifacts[index].sha256 = nil
            final.artifacts[index].pendingHeader = nil
        }
        final.recipients = recipients.map(SealedManifest.label)
        final.manifest = Data(try AgeEncryptor.encrypt(manifest.encoded(), to: recipients)).base64EncodedString()
        final.rekeys = (final.rekeys ?? []) + [.init(at: Date(), recipients: final.recipients)]
        try await store(final.signed(with: signingKey), key: key, in: sink)
        logger.notice("rekeyed", metadata: ["sink": "\(sink.name)", "set": "\(sealed.timestamp)", "artifacts": "\(heads.count)"])
        return SetResult(set: sealed.timestamp, artifacts: sealed.artifacts.map(\.key), method: splicing == nil ? "read and stored again" : "server-side copy")
    }

    /// The stored header of `artifact`: the object's first bytes, through the `---` line. Reading
    /// stops there.
    private func readHeader(_ artifact: SealedManifest.SealedArtifact, in sink: any Sink) async throws -> [UInt8] {
        struct Enough: Error {}
        let collected = HeaderBuffer()
        let destination = ByteDestination { bytes in
            if collected.add(bytes) { throw Enough() }
        }
        do {
            try await sink.get(artifact.key, into: destination)
        } catch is Enough {
        } catch let error as BackupError where error.underlying is Enough {
        }
        guard let header = collected.header else {
            throw BackupError(.encryptedDataDamaged, "\(artifact.key) in sink '\(sink.name)' does not start with an age header")
        }
        return header
    }

    /// Stores `artifact` again with `head` in place of its header, through a file in the staging
    /// directory, for sinks that cannot copy a range themselves.
    private func rewrite(_ artifact: SealedManifest.SealedArtifact, head: [UInt8], in sink: any Sink) async throws {
        let staging = try stagingDirectory()
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let writer = try AtomicFileWriter(finalPath: staging + "/" + artifact.key)
        try head.withUnsafeBytes { try writer.write($0) }
        let skip = Int64(artifact.headerSize)
        let seen = Mutex<Int64>(0)
        // ByteDestination hands chunks over one at a time, in order: the writer is never used at once.
        nonisolated(unsafe) let output = writer
        let destination = ByteDestination { bytes in
            let start = seen.withLock { count in
                defer { count += Int64(bytes.count) }
                return count
            }
            let from = Int(max(0, min(Int64(bytes.count), skip - start)))
            try output.write(UnsafeRawBufferPointer(rebasing: bytes[from...]))
        }
        try await sink.get(artifact.key, into: destination)
        let digest = try writer.finishWriting()!
        try writer.commit()
        try await sink.put(artifact.key, from: StagedFile(path: writer.finalPath, digest: digest))
    }

    /// The rekey's own staging directory (mode 0700), made when missing.
    private func stagingDirectory() throws -> String {
        let staging = plan.resolvedStagingDirectory + "/" + plan.name + "-rekey"
        try makeDirectory(staging, purpose: "the staging directory")
        return staging
    }

    private func store(_ sealed: SealedManifest, key: String, in sink: any Sink) async throws {
        let staging = try stagingDirectory()
        defer { try? FileManager.default.removeItem(atPath: staging + "/" + key) }
        try await sink.put(key, from: StagedFile(writing: sealed.encoded(), to: staging + "/" + key))
    }
}

/// The first bytes of an object until its age header is whole.
private final class HeaderBuffer: Sendable {
    private let state = Mutex<(bytes: [UInt8], end: Int?)>(([], nil))

    /// Adds bytes; true once the header is whole (or longer than any header).
    func add(_ bytes: UnsafeRawBufferPointer) -> Bool {
        state.withLock { state in
            guard state.end == nil else { return true }
            state.bytes += bytes
            state.end = AgeHeader.end(in: state.bytes)
            return state.end != nil || state.bytes.count > AgeHeader.maximumLength
        }
    }

    var header: [UInt8]? {
        state.withLock { state in state.end.map { Array(state.bytes[..<$0]) } }
    }
}
