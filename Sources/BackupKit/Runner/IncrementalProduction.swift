import Foundation

extension BackupRunner {
    /// Writes the index of an incremental source (``IncrementalBackup``) with the previous good set's
    /// index and packs from the primary sink, and returns what the set holds of it: the index and the
    /// new packs, staged and read back, and the packs it shares with earlier sets.
    func produceIncremental(
        _ artifact: SourceArtifact, of planSource: PlanSource, timestamp: SetTimestamp, staging: String, previous: SetCatalog?,
        catalogs: RunCatalogs, warnings: WarningLog, emit: @escaping @Sendable (BackupEvent) -> Void
    ) async throws -> (staged: [(StagedFile, ManifestArtifact)], shared: [ManifestArtifact]) {
        let source = planSource.source
        if let encrypted = try plan.sinks.first(where: { try plan.recipients(for: $0) != nil }) {
            throw BackupError(.invalidPlan, "source '\(source.name)' is incremental, and sink '\(encrypted.name)' encrypts: incremental sets are not stored on encrypting sinks yet. Use mode: full for this source, or a sink without encryption")
        }
        let archive = planSource.archive ?? plan.archive
        let packFormat = try archive.format(for: SourceArtifact(subject: artifact.subject, content: .tree), in: plan.formats)
        var previousIndex: IncrementalSession.PreviousIndex?
        var previousPacks: [String: ManifestArtifact] = [:]
        if let sink = catalogs.primarySink, let (index, packs) = previous?.previousIncremental(source: source.name, subject: artifact.subject) {
            do {
                guard let format = plan.formats.format(named: index.format) else {
                    throw BackupError(.verificationFailed, "its format '\(index.format)' is unknown")
                }
                let path = try await ArtifactAccess.localFile(index, in: sink, staging: staging + "/.previous").path
                let digest = try await runBlocking { try FileDigest.of(path: path) }
                guard digest == index.digest else {
                    throw BackupError(.verificationFailed, "it is \(digest.size) bytes with SHA-256 \(digest.sha256), not what its manifest records")
                }
                previousIndex = .init(path: path, name: index.name, format: format)
                previousPacks = Dictionary(packs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            } catch {
                let failure = BackupError.wrap(error, as: .verificationFailed, index.name)
                let message = "the previous index \(index.name) cannot be used (\(failure.message)); every file is read again and stored in new packs"
                warnings.add("\(source.name): \(message)")
                emit(.warning(source: source.name, message: message))
            }
        }
        let session = IncrementalSession(plan: plan.name, source: source.name, sourceType: source.type, subject: ArtifactName.sanitizedSubject(artifact.subject),
                                         set: timestamp, staging: staging, packFormat: packFormat, previous: previousIndex, previousPacks: previousPacks)
        // The index is small next to the packs written beside it: one compression thread is enough, and
        // keeps two parallel compressors from doubling the run's memory.
        let indexFormat = try archive.format(for: artifact, in: plan.formats).configured(ArchiveOptions(level: archive.options.level, threads: 1))
        let index = try await produce(artifact, of: planSource, timestamp: timestamp, staging: staging, previous: previous, warnings: warnings,
                                      emit: emit, incremental: session, format: indexFormat)
        guard let outcome = session.result else {
            throw BackupError(.sourceFailed, "source '\(source.name)' wrote no incremental index")
        }
        let newPacks = outcome.newPacks.map { ($0.file, $0.record) }
        let newNames = Set(outcome.newPacks.map(\.record.name))
        let shared = outcome.referencedPacks.subtracting(newNames).sorted().map { name in previousPacks[name]! }
        return ([index] + newPacks, shared)
    }

    /// Puts into `sink` every pack of `shared` it does not hold, copied from `primary` (where the
    /// previous set came from): a sink that missed a run still gets every pack the new set names.
    func copyMissingPacks(_ shared: [ManifestArtifact], to sink: any Sink, from primary: (any Sink)?, catalogs: RunCatalogs?, staging: String,
                          emit: @escaping @Sendable (BackupEvent) -> Void) async throws {
        guard !shared.isEmpty else { return }
        let listed: [StoredObject]
        if let catalogs, case .success(let catalog) = await catalogs.catalog(of: sink) {
            listed = catalog.packs
        } else {
            listed = try await SinkCallLog.run("list", sink) { try await sink.list() }
        }
        let held = Dictionary(listed.map { ($0.key, $0.size) }, uniquingKeysWith: { first, _ in first })
        let missing = shared.filter { held[$0.name] != $0.size }
        guard !missing.isEmpty else { return }
        guard let primary, primary.name != sink.name else {
            throw BackupError(.sinkFailed, "sink '\(sink.name)' lacks \(missing.count) pack(s) the set names, \(missing[0].name) among them, and there is no other sink to copy them from")
        }
        for pack in missing {
            let (path, isStaged) = try await ArtifactAccess.localFile(pack, in: primary, staging: staging + "/.copies")
            defer { if isStaged { unlink(path) } }
            try await SinkCallLog.run("put", sink, pack.name) { try await sink.put(pack.name, from: StagedFile(path: path, digest: pack.digest)) }
            emit(.stored(artifact: pack.name, sink: sink.name))
        }
    }
}
