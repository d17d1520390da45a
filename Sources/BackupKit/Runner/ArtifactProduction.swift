import Foundation

extension BackupRunner {
    /// Writes one artifact into the staging directory and verifies it. Returns the staged file and its
    /// manifest record, or throws; a failed artifact leaves nothing under its name.
    func produce(
        _ artifact: SourceArtifact, of planSource: PlanSource, timestamp: SetTimestamp, staging: String,
        previous: SetCatalog?, warnings: WarningLog, emit: @escaping @Sendable (BackupEvent) -> Void, incremental: IncrementalSession? = nil,
        format chosen: (any ArchiveFormat)? = nil
    ) async throws -> (StagedFile, ManifestArtifact) {
        let source = planSource.source
        let format = try chosen ?? (planSource.archive ?? plan.archive).format(for: artifact, in: plan.formats)
        let fileExtension: String
        switch artifact.content {
        case .tree: fileExtension = format.fileExtension
        case .stream(let own): fileExtension = [own, format.fileExtension].filter { !$0.isEmpty }.joined(separator: ".")
        }
        // A manifest with such a subject would be refused when read (``Manifest/nameProblem(key:)``).
        guard ArtifactName.isValidSubject(ArtifactName.sanitizedSubject(artifact.subject)) else {
            throw BackupError(.sourceFailed, "source '\(source.name)' gave an artifact the subject '\(artifact.subject)', which cannot be part of a file name (empty, '.' or '..'); give the source a subject")
        }
        let name = ArtifactName.artifact(source: source.name, subject: artifact.subject, timestamp: timestamp, fileExtension: fileExtension)
        let path = staging + "/" + name
        emit(.artifactStarted(source: source.name, artifact: name))

        let counters = ProgressCounters()
        let warningsBefore = warnings.all.count
        let started = Date()
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                emit(.progress(source: source.name, artifact: name, contentBytes: counters.content.value,
                               writtenBytes: counters.written.value, expectedContentBytes: artifact.expectedContentBytes))
            }
        }
        defer { ticker.cancel() }
        let phase: PhaseProgress.Phase = if case .tree = artifact.content { .archive } else { .dump }
        let report: ProgressHandler = { emit(.phaseProgress($0)) }
        // Without the source's own estimate, the previous good set's content is the likely total.
        let expected = artifact.expectedContentBytes
            ?? previous?.previousArtifact(source: source.name, subject: artifact.subject)?.contentBytes
        // The read-back runs beside the write, on a thread of its own: it reads every byte back from the
        // staged file as soon as the writer has written it (``GrowingFile``), decompresses it and reads
        // every entry, so verification overlaps compression instead of following it. It ends at the
        // file's end, once the writer says the file is complete, with the size and CRC-32 of what it read,
        // which must equal those of what was written (whose SHA-256 goes into the manifest).
        let growth = GrowingFile()
        async let readBack = withPhaseProgress(.verify, artifact: name, total: nil, liveTotal: { let (bytes, complete) = growth.written; return (bytes, !complete) },
                                               report: report) { counter in
            try await runCancellableOnDedicatedThread { cancellation in
                let file = TrailingFileReader(growth: growth)
                let contents = try ArtifactVerifier.readThrough(file, name: name, format: format, progress: counter, isCancelled: { cancellation.isSet })
                return (contents, file.checksum)
            }
        }
        let written: (FileDigest, CRC32Accumulator, Int, Int64, SourceReport)
        do {
            written = try await withPhaseProgress(phase, artifact: name, total: expected, totalIsEstimate: true,
                                                  counter: counters.content, report: report) { _ in
                try await runCancellableOnDedicatedThread { [self] cancellation in
                    let context = sourceContext(source.name, staging: staging, warnings: warnings, emit: emit, counters: counters, cancellation: cancellation,
                                                incremental: incremental)
                    let file = try AtomicFileWriter(finalPath: path, mode: 0o600)
                    growth.began(at: file.temporaryPath, final: path)
                    var checksum = CRC32Accumulator()
                    let writer = try format.makeWriter(output: { bytes in
                        try file.write(bytes)
                        checksum.update(bytes)
                        growth.grew(by: bytes.count)
                        counters.written.add(bytes.count)
                    })
                    let report = try source.write(artifact, to: writer, context: context)
                    try context.checkCancellation()
                    try writer.finish()
                    growth.complete()
                    let digest = try file.finishWriting()!
                    try file.commit()
                    return (digest, checksum, writer.entryCount, writer.contentBytes, report)
                }
            }
        } catch {
            growth.abandon()
            _ = try? await readBack
            throw BackupError.wrap(error, as: .sourceFailed, "source '\(source.name)' (\(name))")
        }
        ticker.cancel()
        let (digest, writtenChecksum, entries, contentBytes, sourceReport) = written
        let duration = Date().timeIntervalSince(started)
        emit(.artifactWritten(artifact: name, size: digest.size, durationSeconds: duration))

        // Verification: size rules first (cheap), then the read-back's end: what it read must be exactly
        // what was written.
        let policy = planSource.verification ?? plan.verification
        let previousSize = previous?.previousSize(source: source.name, subject: artifact.subject)
        do {
            try ArtifactVerifier.checkSize(artifact: name, size: digest.size, policy: policy, previousSize: previousSize)
            let (contents, readBackChecksum) = try await readBack
            try ArtifactVerifier.check(readBack: readBackChecksum, against: writtenChecksum, name: name)
            try contents.checkNotEmpty(name: name, format: format)
        } catch {
            let failure = BackupError.wrap(error, as: .verificationFailed, name)
            emit(.verified(artifact: name, passed: false, message: failure.message))
            try? FileManager.default.removeItem(atPath: path)
            throw failure
        }
        emit(.verified(artifact: name, passed: true, message: nil))

        var record = ManifestArtifact(
            name: name, source: source.name, sourceType: source.type, subject: ArtifactName.sanitizedSubject(artifact.subject),
            format: format.name, layout: format.layout, size: digest.size, sha256: digest.sha256, contentBytes: contentBytes,
            entries: entries, durationSeconds: (duration * 1000).rounded() / 1000,
            verification: VerificationRecord(status: .passed, checkedAt: Date(), checks: ["size", "integrity", "read-back"]),
            warnings: Array(warnings.all.dropFirst(warningsBefore)),
            details: artifact.details.merging(sourceReport.details) { _, new in new }
        )
        if policy.restoreTest {
            let context = sourceContext(source.name, staging: staging, warnings: warnings, emit: emit)
            if let result = try await Self.restoreDrill(source: source, record: record, path: path, format: format, context: context) {
                record.restoreTest = RestoreTestRecord(result)
                emit(.restoreTested(artifact: name, result: result))
                guard result.passed else {
                    try? FileManager.default.removeItem(atPath: path)
                    throw BackupError(.verificationFailed, "\(name) failed its restore drill: \(result.summary)")
                }
            }
        }
        return (StagedFile(path: path, digest: digest), record)
    }

    /// Puts `file` into `sink` as `key`, reporting the upload of `artifact` as the bytes the sink reads.
    /// A sink that stores the file without reading it (a hard link) has stored all of it when it returns.
    private func upload(_ file: StagedFile, as key: String, of artifact: String, to sink: any Sink,
                        emit: @escaping @Sendable (BackupEvent) -> Void) async throws -> StoreReceipt {
        let total = file.digest.size
        return try await withPhaseProgress(.upload(sink: sink.name), artifact: artifact, total: total, report: { emit(.phaseProgress($0)) }) { counter in
            var counted = file
            counted.progress = counter
            let receipt = try await SinkCallLog.run("put", sink, key) { try await sink.put(key, from: counted) }
            if counter.value < total { counter.store(total) }
            return receipt
        }
    }

    /// Runs a source's restore drill on an artifact file that already passed its integrity check.
    static func restoreDrill(source: any BackupSource, record: ManifestArtifact, path: String, format: any ArchiveFormat,
                             context: SourceContext) async throws -> RestoreDrillResult? {
        try await runCancellableOnDedicatedThread { cancellation in
            var context = context
            context.isCancelled = { cancellation.isSet }
            let reader = try format.makeReader(file: FileReader(path: path))
            let request = RestoreRequest(artifact: record, destination: RestoreDestination(kind: .init(rawValue: "drill"), value: ""), artifactPath: path)
            return try source.restoreDrill(request, from: reader, context: context)
        }
    }

    /// What one sink holds of the set once it is stored: its objects and, when it encrypts, its sealed
    /// manifest.
    typealias StoredCopy = (objects: [StoredObject], sealed: SealedManifest?)

    /// Stores every artifact in every sink, the sinks in parallel, then the manifest, signed with
    /// `signingKey`, in each sink that stored everything. An encrypted sink gets each artifact as
    /// `<name>.age`, encrypted while it is read (``StagedFile/encrypted(to:)``), and a
    /// ``SealedManifest`` that lists the ciphertexts' digests. Returns each sink's outcome, the manifest
    /// when it could be written, and what each sink that stored the set now holds. The `unusable` sinks
    /// (those that failed their preflight) get nothing; their outcome is `failed` with that error.
    func store(
        _ staged: [(StagedFile, ManifestArtifact)], shared: [ManifestArtifact] = [], from primary: (any Sink)? = nil, catalogs: RunCatalogs? = nil,
        manifest: @escaping @Sendable ([SinkOutcome]) -> Manifest,
        signingKey: ManifestSigningKey, staging: String, unusable: [String: BackupError], emit: @escaping @Sendable (BackupEvent) -> Void
    ) async -> (outcomes: [SinkOutcome], manifest: Manifest?, stored: [String: StoredCopy]) {
        let plan = plan
        let results = await withTaskGroup(of: (Int, SinkOutcome, [SealedManifest.SealedArtifact]).self) { group in
            for (index, sink) in plan.sinks.enumerated() {
                if let failure = unusable[sink.name] {
                    group.addTask { (index, SinkOutcome(sink: sink.name, status: .failed, error: failure.message, errorCode: failure.code), []) }
                    continue
                }
                group.addTask {
                    let started = Date()
                    var checks: [String]?
                    var sealedArtifacts: [SealedManifest.SealedArtifact] = []
                    do {
                        sealedArtifacts += try await storeSharedPacks(shared, in: sink, from: primary, catalogs: catalogs, staging: staging, emit: emit)
                    } catch {
                        let failure = BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)': copying the packs the set shares with earlier sets")
                        emit(.sinkFailed(sink: sink.name, error: failure.message))
                        return (index, SinkOutcome(sink: sink.name, status: .failed, error: failure.message, errorCode: failure.code,
                                                   durationSeconds: Date().timeIntervalSince(started)), [])
                    }
                    for (file, record) in staged {
                        do {
                            var stored = file
                            var key = record.name
                            if let recipients = try plan.recipients(for: sink) {
                                stored = try await runBlocking { try file.encrypted(to: recipients) }
                                key = SealedManifest.key(for: record.name)
                            }
                            let receipt = try await upload(stored, as: key, of: record.name, to: sink, emit: emit)
                            if let sealedRecord = stored.sealedRecord(name: record.name, key: key) {
                                sealedArtifacts.append(sealedRecord)
                            }
                            checks = checks.map { $0.filter(receipt.checks.contains) } ?? receipt.checks
                            emit(.stored(artifact: key, sink: sink.name))
                        } catch {
                            let failure = BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)': storing \(record.name)")
                            emit(.sinkFailed(sink: sink.name, error: failure.message))
                            return (index, SinkOutcome(sink: sink.name, status: .failed, error: failure.message, errorCode: failure.code,
                                                       durationSeconds: Date().timeIntervalSince(started)), [])
                        }
                    }
                    return (index, SinkOutcome(sink: sink.name, status: .stored, checks: checks, durationSeconds: Date().timeIntervalSince(started)),
                            sealedArtifacts)
                }
            }
            var results: [(Int, SinkOutcome, [SealedManifest.SealedArtifact])] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }
        }
        var outcomes = results.map(\.1)

        let record: Manifest
        let manifestFile: StagedFile
        do {
            let signed = try manifest(outcomes).signed(with: signingKey)
            record = signed
            manifestFile = try await runBlocking { try signed.staged(in: staging) }
        } catch {
            let failure = BackupError.wrap(error, as: .io, "staging the manifest")
            let message = "cannot write the manifest: \(failure.message)"
            return (outcomes.map { SinkOutcome(sink: $0.sink, status: .failed, error: $0.error ?? message, errorCode: $0.errorCode ?? failure.code) }, nil, [:])
        }
        var stored: [String: StoredCopy] = [:]
        for (index, sink) in plan.sinks.enumerated() where outcomes[index].status == .stored {
            do {
                var file = manifestFile
                var sealed: SealedManifest?
                // Packs belong to no one set: they are not the set's objects, which retention deletes with it.
                var objects = staged.filter { !$0.1.isPack }.map { StoredObject(key: $0.1.name, size: $0.0.digest.size) }
                if let recipients = try plan.recipients(for: sink) {
                    let copy = try SealedManifest.seal(record, sink: sink.name, recipients: recipients, artifacts: results[index].2).signed(with: signingKey)
                    file = try await runBlocking { try StagedFile(writing: copy.encoded(), to: staging + "/.sealed-\(sink.name)-\(record.key)") }
                    sealed = copy
                    objects = copy.artifacts.filter { !ArtifactName.isPack($0.name) }.map { StoredObject(key: $0.key, size: $0.size) }
                }
                try await SinkCallLog.run("put", sink, record.key) { try await sink.put(record.key, from: file) }
                stored[sink.name] = (objects, sealed)
                emit(.manifestWritten(sink: sink.name, key: record.key))
            } catch {
                let failure = BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)': storing the manifest \(record.key)")
                emit(.sinkFailed(sink: sink.name, error: failure.message))
                outcomes[index] = SinkOutcome(sink: sink.name, status: .failed, error: failure.message, errorCode: failure.code, checks: outcomes[index].checks)
            }
        }
        return (outcomes, record, stored)
    }
}
