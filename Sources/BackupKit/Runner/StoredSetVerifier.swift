import Foundation
import Logging
import Synchronization

/// Verifies sets already stored in a sink, as `backupctl verify` does: every artifact the manifest
/// lists must be present, read back completely, and match the manifest's size and SHA-256.
public struct StoredSetVerifier: Sendable {
    public var plan: BackupPlan
    public var logger: Logger
    /// Gets the progress of each artifact's download (from a remote sink) and read-back while they run
    /// (``PhaseProgress``); nil: none is reported.
    public var onProgress: (@Sendable (PhaseProgress) -> Void)?

    public init(plan: BackupPlan, logger: Logger, onProgress: (@Sendable (PhaseProgress) -> Void)? = nil) {
        self.plan = plan
        self.logger = logger
        self.onProgress = onProgress
    }

    public struct ArtifactResult: Sendable, Codable {
        public var name: String
        public var passed: Bool
        public var size: Int64
        public var entries: Int?
        public var message: String?
        /// The restore drill's result, when one ran.
        public var restoreTest: RestoreDrillResult?

        enum CodingKeys: String, CodingKey {
            case name, passed, size, entries, message
            case restoreTest = "restore_test"
        }
    }

    public struct Result: Sendable, Codable {
        public var sink: String
        public var set: SetTimestamp
        public var passed: Bool
        public var artifacts: [ArtifactResult]
        public var problem: String?
        /// What the check could not cover, such as the content of an encrypted set on a host without the
        /// identity.
        public var notice: String?

        enum CodingKeys: String, CodingKey {
            case sink, passed, artifacts, problem, notice
            case set = "timestamp"
        }
    }

    /// Verifies the set at `timestamp` in `sink`, or the newest set with a manifest when nil. With
    /// `restoreTest`, every artifact whose source has a restore drill is also restored into something
    /// disposable and checked; the result is recorded in the set's manifest in that sink.
    ///
    /// A set whose manifest is unsigned, or signed with a key this host cannot check, fails unless
    /// `allowUnsigned`; a manifest whose signature fails is never used. Drill results are recorded only
    /// in a manifest this host's signing key signed (it is signed again), never in an unsigned one.
    /// With `readData`, every blob of every pack of an incremental set is also hashed and compared with
    /// its name (the content's SHA-256), beyond the pack's own size, SHA-256 and entries.
    public func verify(sink: any Sink, timestamp: SetTimestamp?, restoreTest: Bool = false, allowUnsigned: Bool = false,
                       readData: Bool = false) async throws -> Result {
        let catalog = try await plan.catalog(in: sink)
        let entry: SetCatalog.Entry
        if let timestamp {
            guard let found = catalog.set(timestamp) else {
                throw BackupError(.notFound, "sink '\(sink.name)' has no set \(timestamp) of plan '\(plan.name)'. `backupctl list` shows the sets.")
            }
            entry = found
        } else {
            // A set dated in the future is not the newest: it would hide every real set (see `list`).
            guard let newest = catalog.sets.last(where: { $0.manifestKey != nil && !$0.isFutureDated }) else {
                throw BackupError(.notFound, "sink '\(sink.name)' holds no complete set of plan '\(plan.name)' to verify")
            }
            entry = newest
        }
        if entry.manifest == nil, let sealed = entry.sealed {
            return try await verifyCiphertext(sealed, entry: entry, in: sink, allowUnsigned: allowUnsigned)
        }
        guard let manifest = entry.manifest else {
            return Result(sink: sink.name, set: entry.timestamp, passed: false, artifacts: [], problem: entry.problem ?? "no manifest")
        }
        let accepted = entry.isRestorable(allowingUnsigned: allowUnsigned)
        let staging = plan.resolvedStagingDirectory + "/" + plan.name + "-verify"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        var results: [ArtifactResult] = []
        var updated = manifest
        let present = Set((entry.objects + entry.packs).map(\.key))
        for (index, artifact) in manifest.artifacts.enumerated() {
            guard present.contains(entry.sealed?.artifact(named: artifact.name)?.key ?? artifact.name) else {
                results.append(ArtifactResult(name: artifact.name, passed: false, size: artifact.size, message: "missing from sink '\(sink.name)'"))
                continue
            }
            guard let format = plan.formats.format(named: artifact.format) else {
                results.append(ArtifactResult(name: artifact.name, passed: false, size: artifact.size, message: "unknown format '\(artifact.format)'"))
                continue
            }
            let source = plan.source(named: artifact.source)?.source
            do {
                let sealedCopy = try entry.sealed?.copy(of: artifact)
                let (report, drill) = try await ArtifactAccess.withLocalFile(artifact, in: sink, staging: staging, sealed: sealedCopy,
                                                                             identities: plan.identities, progress: onProgress) { path in
                    let report = try await withPhaseProgress(.verify, artifact: artifact.name, total: artifact.size, report: onProgress) { counter in
                        try await runCancellableOnDedicatedThread { cancellation in
                            let report = try ArtifactVerifier.checkIntegrity(path: path, name: artifact.name, format: format, expected: artifact.digest,
                                                                             progress: counter, isCancelled: { cancellation.isSet })
                            if artifact.isIncrementalIndex {
                                // Every line parsed, in order, and the trailer's count checked.
                                _ = try IncrementalRestore.plan(index: .init(path: path, name: artifact.name, format: format), paths: [],
                                                                isCancelled: { cancellation.isSet })
                            }
                            if readData, artifact.isPack {
                                try PackWriter.checkContents(path: path, key: artifact.name, format: format, entries: artifact.entries,
                                                             dead: artifact.deadEntries, isCancelled: { cancellation.isSet })
                            }
                            return report
                        }
                    }
                    // A drill loads the dump into a database: only a set whose manifest is accepted gets one.
                    if restoreTest, accepted, artifact.isIncrementalIndex {
                        let drill = try await incrementalDrill(artifact, path: path, format: format, manifest: manifest, sealed: entry.sealed,
                                                               in: sink, staging: staging)
                        return (report, RestoreDrillResult?.some(drill))
                    }
                    guard restoreTest, accepted, let source else { return (report, RestoreDrillResult?.none) }
                    let context = SourceContext(planName: plan.name, logger: logger, stagingDirectory: staging)
                    let drill = try await BackupRunner.restoreDrill(source: source, record: artifact, path: path, format: format, context: context)
                    return (report, drill)
                }
                if let drill {
                    updated.artifacts[index].restoreTest = RestoreTestRecord(drill)
                }
                results.append(ArtifactResult(name: artifact.name, passed: drill?.passed ?? true, size: report.digest.size,
                                              entries: format.layout == .tree ? report.entries : nil,
                                              message: drill.map { "restore drill: \($0.summary)" }, restoreTest: drill))
            } catch {
                let message = (error as? BackupError)?.message ?? "\(error)"
                results.append(ArtifactResult(name: artifact.name, passed: false, size: artifact.size, message: message))
            }
        }
        let passed = results.allSatisfy(\.passed) && accepted
        if updated != manifest {
            if entry.sealed == nil {
                try await record(updated, in: sink, staging: staging)
            } else {
                logger.notice("the drill results are not recorded in an encrypted sink's sealed manifest", metadata: ["sink": "\(sink.name)"])
            }
        }
        // A pack whose bytes failed (not one that is only missing): the next run stores its content again.
        let damaged = Set(results.filter { !$0.passed && $0.message?.hasPrefix("missing from sink") != true && ArtifactName.isPack($0.name) }.map(\.name))
        if !damaged.isEmpty {
            do {
                try await runBlocking { [plan] in try DamagedPacks.record(damaged, for: plan) }
            } catch {
                logger.warning("cannot record the damaged packs", metadata: ["error": "\(error)"])
            }
        }
        return Result(sink: sink.name, set: entry.timestamp, passed: passed, artifacts: results, problem: entry.problem)
    }

    /// Checks an encrypted set without the identity: every ciphertext the signed sealed manifest lists
    /// is read back whole and must have its size and SHA-256. The content inside is not checked.
    private func verifyCiphertext(_ sealed: SealedManifest, entry: SetCatalog.Entry, in sink: any Sink, allowUnsigned: Bool) async throws -> Result {
        let accepted = entry.isRestorable(allowingUnsigned: allowUnsigned)
        let present = Set(entry.objects.map(\.key))
        var results: [ArtifactResult] = []
        for copy in sealed.artifacts {
            guard present.contains(copy.key) else {
                results.append(ArtifactResult(name: copy.key, passed: false, size: copy.size, message: "missing from sink '\(sink.name)'"))
                continue
            }
            let hasher = Mutex(CiphertextHasher())
            do {
                try await withPhaseProgress(.download(sink: sink.name), artifact: copy.key, total: copy.size, report: onProgress) { counter in
                    let destination = ByteDestination { bytes in
                        hasher.withLock { $0.update(bytes) }
                        counter.add(bytes.count)
                    }
                    try await SinkCallLog.run("get", sink, copy.key) { try await sink.get(copy.key, into: destination) }
                }
                let stored = hasher.withLock { $0.finalize() }
                let passed = copy.matches(size: stored.size, header: stored.header, payloadSHA256: stored.payloadSHA256)
                results.append(ArtifactResult(name: copy.key, passed: passed, size: stored.size, message: passed
                    ? "ciphertext checked: size and SHA-256 match the signed manifest"
                    : SealedManifest.replaced("\(copy.key) in sink '\(sink.name)'", stored: stored, sealed: copy).message))
            } catch {
                results.append(ArtifactResult(name: copy.key, passed: false, size: copy.size, message: (error as? BackupError)?.message ?? "\(error)"))
            }
        }
        let notice = entry.sealedProblem.map { "only the ciphertext was checked; the content check needs the identity: \($0.message)" }
            ?? "only the ciphertext was checked; the content check needs the identity (--identity FILE)"
        return Result(sink: sink.name, set: entry.timestamp, passed: results.allSatisfy(\.passed) && accepted, artifacts: results,
                      problem: entry.problem, notice: notice)
    }

    /// Replaces the set's manifest in the sink with one that records the drills (an atomic put), signed
    /// again with this host's signing key, only when that key signed it: an unsigned manifest is never
    /// signed here, and a host without the key records nothing.
    private func record(_ manifest: Manifest, in sink: any Sink, staging: String) async throws {
        try await Self.rewrite(manifest, in: sink, plan: plan, staging: staging, logger: logger)
    }

    /// Stores `manifest` (with new drill results) again, signed: only when this host holds the key that
    /// signed it, since a manifest signed by another key must not change hands. Logs why it did not.
    package static func rewrite(_ manifest: Manifest, in sink: any Sink, plan: BackupPlan, staging: String, logger: Logger) async throws {
        guard FileManager.default.fileExists(atPath: plan.signingKeyPath) else {
            logger.notice("the drill results are not recorded in the manifest: this host has no signing key", metadata: ["key_file": "\(plan.signingKeyPath)"])
            return
        }
        let key = try ManifestSigningKey.load(from: plan.signingKeyPath)
        guard manifest.signature?.keyID == key.publicKey.id else {
            logger.notice("the drill results are not recorded in the manifest: this host's signing key did not sign it",
                          metadata: ["manifest": "\(manifest.key)", "key_id": "\(key.publicKey.id)"])
            return
        }
        try makeDirectory(staging, purpose: "the staging directory")
        try await sink.put(manifest.key, from: try manifest.signed(with: key).staged(in: staging))
    }

    /// Records a drill's result on one artifact of a set, in every sink whose plaintext manifest holds
    /// it (an encrypted sink's sealed manifest is left as it is). Returns the sinks it was recorded in.
    public static func recordDrill(_ result: RestoreDrillResult, artifact: String, set: SetTimestamp, plan: BackupPlan, logger: Logger) async -> [String] {
        var recorded: [String] = []
        for sink in plan.sinks {
            guard let catalog = try? await plan.catalog(in: sink), let entry = catalog.sets.first(where: { $0.timestamp == set }),
                  entry.sealed == nil, var manifest = entry.manifest,
                  let index = manifest.artifacts.firstIndex(where: { $0.name == artifact }) else { continue }
            manifest.artifacts[index].restoreTest = RestoreTestRecord(result)
            do {
                try await rewrite(manifest, in: sink, plan: plan, staging: plan.resolvedStagingDirectory + "/" + plan.name, logger: logger)
                recorded.append(sink.name)
            } catch {
                logger.warning("cannot record the drill in sink '\(sink.name)': \(error)")
            }
        }
        return recorded
    }

    /// The restore drill of an incremental set's index: a random sample of its files restored from
    /// their packs and compared with the index (``IncrementalDrill``).
    private func incrementalDrill(_ artifact: ManifestArtifact, path: String, format: any ArchiveFormat, manifest: Manifest, sealed: SealedManifest?,
                                  in sink: any Sink, staging: String) async throws -> RestoreDrillResult {
        let index = IncrementalSession.PreviousIndex(path: path, name: artifact.name, format: format)
        let (sample, files) = try await runCancellableOnDedicatedThread { _ in
            var generator = SystemRandomNumberGenerator()
            return try IncrementalDrill.sample(index, count: IncrementalDrill.sampleSize, using: &generator)
        }
        var packs: [String: (path: String, format: any ArchiveFormat)] = [:]
        for name in Set(sample.compactMap(\.pack)) {
            guard let record = manifest.artifacts.first(where: { $0.name == name && $0.isPack }), let packFormat = plan.formats.format(named: record.format) else {
                throw BackupError(.verificationFailed, "the index \(artifact.name) names the pack \(name), which its set's manifest does not list")
            }
            let packPath = try await ArtifactAccess.localFile(record, in: sink, staging: staging, sealed: try sealed?.copy(of: record),
                                                              identities: plan.identities).path
            packs[name] = (packPath, packFormat)
        }
        let found = packs
        return try await runCancellableOnDedicatedThread { cancellation in
            try IncrementalDrill.check(sample, files: files, index: index, packs: found, scratch: staging + "/.drill-" + artifact.name,
                                       artifact: artifact, isCancelled: { cancellation.isSet })
        }
    }
}
