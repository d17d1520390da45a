import Foundation

extension BackupRunner {
    /// Writes the index of an incremental source (``IncrementalWriter``) with the previous good set's
    /// index and packs from the primary sink, and returns what the set holds of it: the index and the
    /// new packs, staged and read back, and the packs it shares with earlier sets.
    func produceIncremental(
        _ artifact: SourceArtifact, of planSource: PlanSource, timestamp: SetTimestamp, staging: String, previous: SetCatalog?,
        catalogs: RunCatalogs, warnings: WarningLog, emit: @escaping @Sendable (BackupEvent) -> Void
    ) async throws -> (staged: [(StagedFile, ManifestArtifact)], shared: [ManifestArtifact]) {
        let source = planSource.source
        let archive = planSource.archive ?? plan.archive
        var packFormat = try archive.format(for: SourceArtifact(subject: artifact.subject, content: .tree), in: plan.formats)
        if let tar = packFormat as? TarFormat, tar.compression == .gzip {
            // Packs are written beside the walk, the previous index and the downloads: gzip's smallest
            // batches (four blocks, still compressed on every core) halve the compressor's memory.
            packFormat = try tar.configured(ArchiveOptions(level: archive.options.level, threads: 1))
        }
        var previousIndex: IncrementalSession.PreviousIndex?
        var previousPacks: [String: ManifestArtifact] = [:]
        if let sink = catalogs.primarySink, let (index, packs, sealed) = previous?.previousIncremental(source: source.name, subject: artifact.subject) {
            do {
                guard let format = plan.formats.format(named: index.format) else {
                    throw BackupError(.verificationFailed, "its format '\(index.format)' is unknown")
                }
                let path = try await ArtifactAccess.localFile(index, in: sink, staging: staging + "/.previous", sealed: try sealed?.copy(of: index),
                                                              identities: plan.identities).path
                let digest = try await runBlocking { try FileDigest.of(path: path) }
                guard digest == index.digest else {
                    throw BackupError(.verificationFailed, "it is \(digest.size) bytes with SHA-256 \(digest.sha256), not what its manifest records")
                }
                previousIndex = .init(path: path, name: index.name, format: format)
                previousPacks = Dictionary(packs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
                let sparse = IncrementalSession.sparsePacks(packs, usage: index.packUsage)
                if !sparse.isEmpty {
                    for name in sparse { previousPacks[name] = nil }
                    let bytes = packs.filter { sparse.contains($0.name) }.reduce(Int64(0)) { $0 + (index.packUsage[$1.name] ?? 0) }
                    logger.info("repacking: the files of packs the previous set used less than half of are stored again in new packs",
                                metadata: ["source": "\(source.name)", "packs": "\(sparse.count)", "bytes": "\(bytes)"])
                }
                let damaged = try await runBlocking { [plan] in DamagedPacks.load(for: plan) }.intersection(previousPacks.keys)
                if !damaged.isEmpty {
                    for name in damaged { previousPacks[name] = nil }
                    let message = "verify found \(damaged.count) pack(s) damaged (\(damaged.sorted().joined(separator: ", "))): the files they held are read again and stored in new packs"
                    warnings.add("\(source.name): \(message)")
                    emit(.warning(source: source.name, message: message))
                }
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
        var indexFormat = try archive.format(for: artifact, in: plan.formats).configured(ArchiveOptions(level: archive.options.level, threads: 1))
        if var stream = indexFormat as? StreamFormat, let previousBytes = previous?.previousIncremental(source: source.name, subject: artifact.subject)?.index.contentBytes,
           previousBytes < Self.serialIndexLimit {
            // A small index (the previous one says so) is compressed through one small zlib stream.
            stream.serial = true
            indexFormat = stream
        }
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

    /// Below this many bytes of JSON (a few hundred thousand paths), an index is compressed on one thread
    /// in a few hundred KiB; above, in parallel batches, which take ten times the memory and a fraction
    /// of the time (a million paths: 150 MB of JSON, 5 s on one thread).
    static let serialIndexLimit: Int64 = 32 << 20

    /// Makes `sink` hold every pack of `shared` (the packs the new set shares with earlier sets), and
    /// returns, for an encrypting sink, the sealed records of those packs for its sealed manifest. A pack
    /// the sink holds is taken as it is (an encrypting sink's record comes from an earlier sealed manifest
    /// there); a missing one is copied from `primary` (where the previous set came from), encrypted to the
    /// sink's recipients when it encrypts. So a sink that missed a run still gets every pack the set names.
    func storeSharedPacks(_ shared: [ManifestArtifact], in sink: any Sink, from primary: (any Sink)?, catalogs: RunCatalogs?, staging: String,
                          emit: @escaping @Sendable (BackupEvent) -> Void) async throws -> [SealedManifest.SealedArtifact] {
        guard !shared.isEmpty else { return [] }
        let recipients = try plan.recipients(for: sink)
        var catalog: SetCatalog?
        if let catalogs, case .success(let read) = await catalogs.catalog(of: sink) { catalog = read }
        let listed: [StoredObject]
        if let catalog {
            listed = catalog.packs
        } else {
            listed = try await SinkCallLog.run("list", sink) { try await sink.list() }
        }
        let held = Dictionary(listed.map { ($0.key, $0.size) }, uniquingKeysWith: { first, _ in first })
        let sealedBefore = Dictionary((catalog?.sets ?? []).compactMap(\.sealed).flatMap(\.artifacts).map { ($0.name, $0) },
                                      uniquingKeysWith: { first, _ in first })
        var records: [SealedManifest.SealedArtifact] = []
        for pack in shared {
            if recipients == nil, held[pack.name] == pack.size { continue }
            if recipients != nil, let known = sealedBefore[pack.name], let size = held[known.key], known.acceptedSizes.contains(size) {
                records.append(known)
                continue
            }
            guard let primary, primary.name != sink.name else {
                throw BackupError(.sinkFailed, "sink '\(sink.name)' lacks the pack \(pack.name) that the set shares with earlier sets, and there is no other sink to copy it from")
            }
            var primarySealed: SealedManifest.SealedArtifact?
            if try plan.recipients(for: primary) != nil, let catalogs, case .success(let primaryCatalog) = await catalogs.catalog(of: primary) {
                primarySealed = primaryCatalog.sets.compactMap { $0.sealed?.artifact(named: pack.name) }.first
            }
            let (path, isStaged) = try await ArtifactAccess.localFile(pack, in: primary, staging: staging + "/.copies", sealed: primarySealed,
                                                                      identities: plan.identities)
            defer { if isStaged { unlink(path) } }
            let plain = StagedFile(path: path, digest: pack.digest)
            var stored = plain
            var key = pack.name
            if let recipients {
                stored = try await runBlocking { try plain.encrypted(to: recipients) }
                key = SealedManifest.key(for: pack.name)
            }
            let upload = stored
            try await SinkCallLog.run("put", sink, key) { try await sink.put(key, from: upload) }
            if let record = stored.sealedRecord(name: pack.name, key: key) { records.append(record) }
            emit(.stored(artifact: key, sink: sink.name))
        }
        return records
    }
}

extension StagedFile {
    /// The sealed manifest's record of this file, stored as `key`, when it is an encrypted copy of the
    /// artifact `name`; nil when it is not encrypted.
    func sealedRecord(name: String, key: String) -> SealedManifest.SealedArtifact? {
        guard let encryption else { return nil }
        return SealedManifest.SealedArtifact(name: name, key: key, size: digest.size, sha256: digest.sha256, headerSize: encryption.headerLength,
                                             headerSHA256: encryption.headerSHA256, payloadSHA256: payloadSHA256 ?? "")
    }
}
