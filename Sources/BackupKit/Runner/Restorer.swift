import Foundation
import Logging
import Glibc

/// Restores artifacts of a stored set through the sources that made them, all or nothing. Every selected
/// artifact is checked (size and SHA-256 against the manifest, full decompression, every entry safe)
/// before anything is written, and the free space of a directory target against the artifacts' content
/// bytes. Files are then written into a temporary directory on the target's file system
/// (``RestoreStaging``) and moved into place only once every artifact was restored, so a failure (a
/// full disk included) leaves the target as it was. An artifact downloaded from a remote sink is checked
/// in the staging directory and restored from that same copy; all of them stay there until the restore
/// ends. Databases and buckets are written by their sources as before (a database load runs in one
/// transaction or into a new database that replaces the old one only once loaded).
public struct Restorer: Sendable {
    public var plan: BackupPlan
    public var logger: Logger
    /// Gets what a person should know about a restore that goes on: a set restored without its
    /// signature checked, a damaged copy replaced by another sink's. Each is also logged.
    public var onWarning: @Sendable (String) -> Void
    /// Gets the progress of each artifact's download (from a remote sink), verification and restore,
    /// while they run (``PhaseProgress``); nil: none is reported.
    public var onProgress: (@Sendable (PhaseProgress) -> Void)?

    public init(plan: BackupPlan, logger: Logger, onWarning: @escaping @Sendable (String) -> Void = { _ in },
                onProgress: (@Sendable (PhaseProgress) -> Void)? = nil) {
        self.plan = plan
        self.logger = logger
        self.onWarning = onWarning
        self.onProgress = onProgress
    }

    private func warn(_ message: String) {
        logger.warning("\(message)")
        onWarning(message)
    }

    public struct Options: Sendable {
        /// The set; nil means the one ``selector`` picks.
        public var timestamp: SetTimestamp?
        /// Without ``timestamp``: the newest good set (``SetSelector/latest``) or the newest taken at or
        /// before a moment, among the sets that hold every source to restore.
        public var selector: SetSelector = .latest
        /// `restore --all`: every artifact goes back to its source's own place
        /// (``BackupSource/defaultRestoreDestination(for:)``) or to the target named here for its source,
        /// instead of ``destination``; each target is all or nothing on its own, and the hooks run once.
        public var toSourceTargets = false
        /// With ``toSourceTargets``: a target per source name, overriding its own place.
        public var targetOverrides: [String: String] = [:]
        /// Make a directory target exactly the set: what it holds that the set does not is removed, once
        /// everything is restored (`restore --mirror`; implies restoring into a non-empty target).
        public var mirror = false

        /// The one set asked for by name: ``timestamp``, or a selector that names a set exactly.
        var exactTimestamp: SetTimestamp? {
            if let timestamp { return timestamp }
            if case .exact(let timestamp) = selector { return timestamp }
            return nil
        }
        /// The sink to read from; nil means the first sink (local ones first) that has the set.
        public var sink: String?
        /// Restore only these sources; empty means all in the set.
        public var onlySources: [String]
        /// Restore only artifacts with these subjects (such as one database of several); empty means all.
        public var subjects: [String]
        public var destination: RestoreDestination
        public var force: Bool
        public var dropExisting: Bool
        public var jobs: Int?
        /// `restore --path`: restore only the entries of tree artifacts these patterns select.
        public var paths: [GlobPattern] = []
        /// Restore a set whose manifest is unsigned (written before BackupKit signed sets) or signed with a
        /// key this host cannot check. Its sizes and SHA-256 are still checked against the manifest, but
        /// nothing proves the plan's backup host wrote that manifest.
        public var allowUnsigned: Bool

        public init(timestamp: SetTimestamp? = nil, sink: String? = nil, onlySources: [String] = [], subjects: [String] = [],
                    destination: RestoreDestination, force: Bool = false, dropExisting: Bool = false, jobs: Int? = nil,
                    allowUnsigned: Bool = false) {
            self.allowUnsigned = allowUnsigned
            self.timestamp = timestamp
            self.sink = sink
            self.onlySources = onlySources
            self.subjects = subjects
            self.destination = destination
            self.force = force
            self.dropExisting = dropExisting
            self.jobs = jobs
        }
    }

    /// Restores the set `options` selects. Without `options.sink`, when the chosen sink's copy of the set
    /// turns out damaged (an artifact fails its size, SHA-256 or decompression check, before anything is
    /// written), the same set is restored from the next sink that holds a good copy, and the damage is
    /// logged; with `options.sink`, the error names the sinks that hold good copies.
    public func restore(_ options: Options) async throws -> [RestoreReport] {
        let (sink, entry) = try await findSet(options)
        do {
            return try await restore(entry, from: sink, options)
        } catch let error as BackupError where Self.isDamage(error) {
            let good = try await goodCopies(of: entry, except: sink.name, options)
            guard options.sink != nil else {
                var (damaged, damagedSink) = (error, sink)
                for (other, copy) in good {
                    warn("the copy of set \(entry.timestamp) in sink '\(damagedSink.name)' is damaged (\(damaged.message)); nothing was written from it. Restoring the same set from sink '\(other.name)'")
                    do {
                        return try await restore(copy, from: other, options)
                    } catch let error as BackupError where Self.isDamage(error) {
                        (damaged, damagedSink) = (error, other)
                    }
                }
                throw damaged
            }
            let damaged = error
            guard !good.isEmpty else { throw damaged }
            throw BackupError(damaged.code, "\(damaged.message). Nothing was written. A good copy of set \(entry.timestamp) is in \(good.map { "sink '\($0.0.name)'" }.joined(separator: ", ")): restore with --sink \(good[0].0.name)", underlying: damaged)
        }
    }

    /// A copy that failed its checks (damaged, replaced, cut short): another sink's copy may be good.
    static func isDamage(_ error: BackupError) -> Bool {
        [.verificationFailed, .encryptedDataDamaged, .encryptedDataTruncated].contains(error.code)
    }

    private func restore(_ entry: SetCatalog.Entry, from sink: any Sink, _ options: Options) async throws -> [RestoreReport] {
        if let sealed = entry.sealed {
            if let truncation = entry.truncation(in: sink.name) { throw truncation }
            if entry.manifest == nil, entry.isRestorable(allowingUnsigned: options.allowUnsigned) {
                throw entry.sealedProblem ?? AgeFileReading.identityNeeded("set \(sealed.timestamp) in sink '\(sink.name)'")
            }
        }
        let (selected, requests) = try plannedRequests(entry, from: sink, options)
        let manifestArtifacts = entry.manifest?.artifacts ?? []
        // Refuse a non-empty target before reading a single artifact.
        for request in requests where request.destination.kind == .directory && !request.force {
            let count = Self.entryCount(request.destination.value)
            if count > 0 {
                throw BackupError(.restoreFailed, "restore target \(request.destination.value) is not empty (\(count) entries). Choose an empty directory, or pass --force to restore into it.")
            }
        }

        let staging = plan.resolvedStagingDirectory + "/" + plan.name + "-restore"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let hooks = HookRunner(timeout: plan.hooks.timeout.seconds, logger: logger)
        var details = ["PLAN": plan.name, "SET": entry.timestamp.description, "SINK": sink.name, "RESTORE_TARGET": options.destination.value,
                       "RESTORE_ARTIFACTS": selected.map(\.name).joined(separator: ",")]
        try await hooks.run(plan.hooks.beforeRestore, name: "before_restore", details: details)
        do {
            var reports: [RestoreReport] = []
            if options.toSourceTargets {
                for request in requests {
                    reports += try await restore([request], into: request.destination, from: sink, sealed: entry.sealed, setArtifacts: manifestArtifacts,
                                                 staging: staging, mirror: options.mirror)
                }
            } else {
                reports = try await restore(requests, into: options.destination, from: sink, sealed: entry.sealed, setArtifacts: manifestArtifacts,
                                            staging: staging, mirror: options.mirror)
            }
            details["RESTORE_STATUS"] = "succeeded"
            try await hooks.run(plan.hooks.afterRestore, name: "after_restore", details: details)
            return reports
        } catch {
            details["RESTORE_STATUS"] = "failed"
            do {
                try await hooks.run(plan.hooks.afterRestore, name: "after_restore", details: details)
            } catch {
                logger.error("after_restore hook failed after a failed restore", metadata: ["error": "\(error)"])
            }
            throw error
        }
    }

    /// What a restore of `entry` from `sink` will do: the artifacts `options` selects and where each
    /// goes, every destination checked to be the target or inside it. Reads nothing but the catalog.
    private func plannedRequests(_ entry: SetCatalog.Entry, from sink: any Sink, _ options: Options) throws
        -> (selected: [ManifestArtifact], requests: [RestoreRequest]) {
        guard let manifest = entry.manifest, entry.isRestorable(allowingUnsigned: options.allowUnsigned) else {
            let hint = entry.health.isGoodButUnsigned ? "" : "; choose another with --set"
            throw BackupError(.restoreFailed, "refusing to restore set \(entry.timestamp) from sink '\(sink.name)': it is not a good set (\(entry.problem ?? "no manifest"))\(hint). Nothing was written (exit 8)")
        }
        if !entry.isGood {
            warn("--allow-unsigned: set \(entry.timestamp) in sink '\(sink.name)' is restored without its manifest's signature checked (\(entry.problem ?? "")). Its artifacts are checked against the manifest's sizes and SHA-256, but nothing proves the plan's backup host wrote that manifest")
        }
        for name in options.onlySources where !manifest.artifacts.contains(where: { $0.source == name }) {
            throw BackupError(.usage, "--only \(name): set \(entry.timestamp) holds no artifact of source '\(name)'; it holds \(Set(manifest.artifacts.map(\.source)).sorted().joined(separator: ", "))")
        }
        for subject in options.subjects where !manifest.artifacts.contains(where: { $0.subject == subject }) {
            throw BackupError(.usage, "--subject \(subject): set \(entry.timestamp) holds no artifact with that subject; it holds \(manifest.artifacts.map(\.subject).joined(separator: ", "))")
        }
        // Packs are restored through the index that names them, never alone.
        let selected = manifest.artifacts.filter {
            !$0.isPack && (options.onlySources.isEmpty || options.onlySources.contains($0.source)) && (options.subjects.isEmpty || options.subjects.contains($0.subject))
        }
        let requests = try selected.map { artifact in
            var destination = options.destination
            if options.toSourceTargets {
                destination = try sourceTarget(for: artifact, options)
            } else if destination.kind == .directory, selected.count > 1 {
                let sameSource = selected.filter { $0.source == artifact.source }.count
                destination.value += "/" + artifact.source + (sameSource > 1 ? "/" + artifact.subject : "")
            }
            let force = options.force || (options.mirror && destination.kind == .directory)
            if !options.paths.isEmpty, (artifact.layout != .tree && !artifact.isIncrementalIndex) || destination.kind != .directory {
                throw BackupError(.usage, "--path selects files of tree artifacts restored to a directory; \(artifact.name) is \(artifact.layout == .tree ? "restored to a \(destination.kind.rawValue)" : "a single stream (a dump)"). Leave out --path, or choose the source with --only")
            }
            return RestoreRequest(artifact: artifact, destination: destination, force: force, dropExisting: options.dropExisting, jobs: options.jobs,
                                  paths: options.paths)
        }
        // Every directory destination is the target or inside it: the names in it were validated with the
        // manifest, and a symlink already in the target must not lead elsewhere either.
        if options.destination.kind == .directory, !options.toSourceTargets {
            for request in requests where request.destination.kind == .directory {
                _ = try RestorePath.checked(request.destination.value, inside: options.destination.value)
            }
        }
        return (selected, requests)
    }

    /// How many entries a directory target holds (0 when it does not exist yet).
    static func entryCount(_ directory: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).count
    }

    /// Where `restore --all` puts `artifact`: the target given for its source (of the kind its own place
    /// has), else its own place.
    private func sourceTarget(for artifact: ManifestArtifact, _ options: Options) throws -> RestoreDestination {
        guard let source = plan.source(named: artifact.source)?.source, var destination = source.defaultRestoreDestination(for: artifact) else {
            throw BackupError(.usage, "restore --all: source '\(artifact.source)' has no place of its own to restore \(artifact.name) to; give one with --target \(artifact.source)=TARGET")
        }
        if let override = options.targetOverrides[artifact.source] {
            destination.value = destination.kind == .directory ? resolvePath(override, against: FileManager.default.currentDirectoryPath) : override
        }
        return destination
    }

    /// What `restore(_:)` with these options would write where, and which hooks it would run, without
    /// running a hook, reading an artifact or writing anything (`restore --dry-run`).
    public func preview(_ options: Options) async throws -> RestorePreview {
        let (sink, entry) = try await findSet(options)
        if let sealed = entry.sealed, entry.manifest == nil {
            throw entry.sealedProblem ?? AgeFileReading.identityNeeded("set \(sealed.timestamp) in sink '\(sink.name)'")
        }
        let (_, requests) = try plannedRequests(entry, from: sink, options)
        let items = requests.map { request in
            var state: String
            switch request.destination.kind {
            case .directory:
                var isDirectory: ObjCBool = false
                if !FileManager.default.fileExists(atPath: request.destination.value, isDirectory: &isDirectory) {
                    state = "missing: it will be created"
                } else if !isDirectory.boolValue {
                    state = "not a directory: the restore will be refused"
                } else {
                    let count = Self.entryCount(request.destination.value)
                    state = count == 0 ? "empty" : "not empty (\(count) entries): " + (options.mirror ? "made exactly the set: entries it does not hold are removed (--mirror)"
                        : options.force ? "same names are replaced (--force)" : "the restore will be refused without --force")
                }
            case .database:
                state = options.dropExisting ? "replaced if it holds data (--drop-existing)" : options.force ? "loaded into if it holds data (--force)" : "created; refused if it holds data"
            default:
                state = options.force ? "uploaded into (--force)" : "created when missing; refused unless empty"
            }
            return RestorePreview.Item(name: request.artifact.name, source: request.artifact.source, subject: request.artifact.subject,
                                       size: request.artifact.size, contentBytes: request.artifact.contentBytes,
                                       target: request.destination.value, targetKind: request.destination.kind.rawValue, targetState: state)
        }
        return RestorePreview(timestamp: entry.timestamp, sink: sink.name, artifacts: items,
                              beforeRestore: plan.hooks.beforeRestore, afterRestore: plan.hooks.afterRestore)
    }

    /// One artifact checked and ready to restore from `path`.
    private struct CheckedArtifact {
        var request: RestoreRequest
        var format: any ArchiveFormat
        var source: (any BackupSource)?
        var path: String
        var contentBytes: Int64
        /// For an incremental set's index: the index as a reader wants it, and the checked packs it needs.
        var incremental: (index: IncrementalSession.PreviousIndex, packs: [(path: String, key: String, format: any ArchiveFormat)])?
    }

    private func restore(_ requests: [RestoreRequest], into destination: RestoreDestination, from sink: any Sink,
                         sealed: SealedManifest?, setArtifacts: [ManifestArtifact], staging: String, mirror: Bool = false) async throws -> [RestoreReport] {
        // 1. Check every artifact before anything is written.
        var checked: [CheckedArtifact] = []
        for request in requests {
            let artifact = request.artifact
            guard let format = plan.formats.format(named: artifact.format) else {
                throw BackupError(.restoreFailed, "\(artifact.name) has the unknown format '\(artifact.format)'")
            }
            let source = plan.source(named: artifact.source)?.source
            if source == nil && format.layout != .tree {
                throw BackupError(.restoreFailed, "the plan no longer has the source '\(artifact.source)' that knows how to restore \(artifact.name)")
            }
            let path = try await ArtifactAccess.localFile(artifact, in: sink, staging: staging, sealed: try sealed?.copy(of: artifact),
                                                          identities: plan.identities, progress: onProgress).path
            let report = try await withPhaseProgress(.verify, artifact: artifact.name, total: artifact.size, report: onProgress) { counter in
                try await runCancellableOnDedicatedThread { cancellation in
                    do {
                        return try ArtifactVerifier.checkIntegrity(path: path, name: artifact.name, format: format, expected: artifact.digest,
                                                                   progress: counter, isCancelled: { cancellation.isSet })
                    } catch let error as BackupError {
                        // A hostile entry is a refused restore, not a damaged artifact.
                        if let refusal = error.underlying as? BackupError, refusal.code == .restoreFailed {
                            throw BackupError(.restoreFailed, "\(artifact.name) is refused: \(refusal.message)", underlying: refusal)
                        }
                        throw error
                    }
                }
            }
            var item = CheckedArtifact(request: request, format: format, source: source, path: path,
                                       contentBytes: max(artifact.contentBytes, report.contentBytes))
            if artifact.isIncrementalIndex {
                try await checkPacks(of: &item, setArtifacts: setArtifacts, in: sink, sealed: sealed, staging: staging)
            }
            checked.append(item)
        }
        // 2. A directory target must have room for all of it.
        let needed = checked.filter { $0.request.destination.kind == .directory }.reduce(Int64(0)) { $0 + $1.contentBytes }
        if destination.kind == .directory {
            try Self.checkFreeSpace(for: destination.value, needed: needed)
        }
        // 3. Write into the temporary directory, and move it into place once every artifact is restored.
        let directoryStaging = destination.kind == .directory ? try RestoreStaging(target: destination.value) : nil
        do {
            var reports: [RestoreReport] = []
            for item in checked {
                var request = item.request
                request.artifactPath = item.path
                if let directoryStaging, request.destination.kind == .directory {
                    request.destination.value = directoryStaging.staged(request.destination.value)
                }
                let context = SourceContext(planName: plan.name, logger: logger, stagingDirectory: staging)
                let (format, source, path, prepared, incremental) = (item.format, item.source, item.path, request, item.incremental)
                let blobs = staging + "/.blobs-" + prepared.artifact.name
                var report = try await withPhaseProgress(.restore, artifact: prepared.artifact.name, total: prepared.artifact.size,
                                                         report: onProgress) { counter in
                    try await runCancellableOnDedicatedThread { cancellation in
                        var context = context
                        context.isCancelled = { cancellation.isSet }
                        if let incremental {
                            // An incremental set: its packs' blobs first, then the index's entries.
                            try makeDirectory(blobs, purpose: "the restore's scratch directory for blobs")
                            defer { try? RawPath(blobs).removeTree() }
                            for pack in incremental.packs {
                                try IncrementalRestore.extractBlobs(pack: pack.path, key: pack.key, format: pack.format, into: blobs,
                                                                    isCancelled: { cancellation.isSet })
                            }
                            let reader = try IncrementalSetReader(index: incremental.index, blobs: blobs)
                            if let source { return try source.restore(prepared, from: reader, context: context) }
                            return try TreeRestore.restore(prepared, from: reader, context: context)
                        }
                        let reader = try format.makeReader(file: FileReader(path: path), progress: counter)
                        if let source {
                            return try source.restore(prepared, from: reader, context: context)
                        }
                        return try TreeRestore.restore(prepared, from: reader, context: context)
                    }
                }
                if let directoryStaging { report.destination = directoryStaging.final(report.destination) }
                // A partial restore (--path) holds fewer entries than the manifest records by design.
                if prepared.destination.kind == .directory, report.check == nil, prepared.artifact.entries > 0, prepared.paths.isEmpty {
                    report.check(entriesRecorded: prepared.artifact.entries)
                }
                reports.append(report)
            }
            if let removed = try directoryStaging?.commit(mirror: mirror), !removed.isEmpty {
                warn("--mirror: removed \(removed.count) entr\(removed.count == 1 ? "y" : "ies") the set does not hold from \(destination.value): \(removed.prefix(10).joined(separator: ", "))\(removed.count > 10 ? ", …" : "")")
            }
            for report in reports {
                logger.info("restored", metadata: ["artifact": "\(report.artifact)", "to": "\(report.destination)"])
            }
            return reports
        } catch let error as BackupError where error.code == .diskSpace {
            directoryStaging?.discard()
            throw BackupError(.diskSpace, "restore target \(destination.value) ran out of space: the restore needs \(formatBytes(needed)) (the artifacts' content bytes) on its file system (\(error.message)). Nothing was restored; free space there or restore to a larger volume.", underlying: error)
        } catch {
            directoryStaging?.discard()
            throw error
        }
    }

    /// Reads an incremental index, finds the packs the selected paths need, and fetches and checks each
    /// of them (size, SHA-256, every entry) before anything is written.
    private func checkPacks(of item: inout CheckedArtifact, setArtifacts: [ManifestArtifact], in sink: any Sink, sealed: SealedManifest?,
                            staging: String) async throws {
        let artifact = item.request.artifact
        let index = IncrementalSession.PreviousIndex(path: item.path, name: artifact.name, format: item.format)
        let paths = item.request.paths
        let planned = try await runCancellableOnDedicatedThread { cancellation in
            try IncrementalRestore.plan(index: index, paths: paths, isCancelled: { cancellation.isSet })
        }
        var packs: [(path: String, key: String, format: any ArchiveFormat)] = []
        for name in planned.packs.sorted() {
            guard let record = setArtifacts.first(where: { $0.name == name && $0.isPack }) else {
                throw BackupError(.verificationFailed, "the index \(artifact.name) names the pack \(name), which its set's manifest does not list")
            }
            guard let format = plan.formats.format(named: record.format) else {
                throw BackupError(.restoreFailed, "pack \(name) has the unknown format '\(record.format)'")
            }
            let path = try await ArtifactAccess.localFile(record, in: sink, staging: staging, sealed: try sealed?.copy(of: record),
                                                          identities: plan.identities, progress: onProgress).path
            _ = try await withPhaseProgress(.verify, artifact: record.name, total: record.size, report: onProgress) { counter in
                try await runCancellableOnDedicatedThread { cancellation in
                    try ArtifactVerifier.checkIntegrity(path: path, name: record.name, format: format, expected: record.digest,
                                                        progress: counter, isCancelled: { cancellation.isSet })
                }
            }
            packs.append((path, name, format))
        }
        item.contentBytes = planned.bytes
        item.incremental = (index, packs)
    }

    /// Refuses a restore whose content bytes do not fit in the free space of the target's file system
    /// (that of its nearest existing ancestor when the target does not exist yet).
    static func checkFreeSpace(for target: String, needed: Int64) throws {
        var existing = target
        while !FileManager.default.fileExists(atPath: existing), existing != "/", !existing.isEmpty {
            existing = (existing as NSString).deletingLastPathComponent
        }
        var info = statvfs()
        guard statvfs(existing.isEmpty ? "." : existing, &info) == 0 else { return }
        let available = Int64(info.f_bavail) * Int64(info.f_frsize)
        if needed > available {
            throw BackupError(.diskSpace, "restore target \(target) needs \(formatBytes(needed)) (the artifacts' content bytes, from the manifest) but its file system has only \(formatBytes(available)) free. Nothing was written; free space there or restore to a larger volume.")
        }
    }

    /// The usable copies of `original`'s set in the plan's sinks other than `except`, local ones first. A
    /// copy of a signed set must be signed too and list the same artifacts with the same digests: a
    /// damaged signed copy is never replaced by an unsigned one someone planted.
    private func goodCopies(of original: SetCatalog.Entry, except: String, _ options: Options) async throws -> [(any Sink, SetCatalog.Entry)] {
        var copies: [(any Sink, SetCatalog.Entry)] = []
        for sink in orderedSinks() where sink.name != except {
            guard let catalog = try? await plan.catalog(in: sink), let entry = catalog.set(original.timestamp) else { continue }
            if original.isGood {
                let digests = { (entry: SetCatalog.Entry) in entry.manifest?.artifacts.map { [$0.name, $0.sha256, String($0.size)] } }
                if entry.isGood && digests(entry) == digests(original) { copies.append((sink, entry)) }
            } else if entry.isRestorable(allowingUnsigned: options.allowUnsigned) {
                copies.append((sink, entry))
            }
        }
        return copies
    }

    private func orderedSinks() -> [any Sink] {
        plan.sinks.filter { $0.capabilities.localDirectory != nil } + plan.sinks.filter { $0.capabilities.localDirectory == nil }
    }

    /// The sink and set to restore from. Without a timestamp, a sink whose newest set has an invalid
    /// manifest or a failing signature (tampered with) offers no older set in its place: that is refused, naming the manifest.
    /// Sets dated in the future (``SetHealth/futureDated(by:)``) are never the newest.
    /// The sink and set a restore with `options` would read (for `ls`, `find` and `diff`, which read
    /// sets the way a restore picks them): ``Options/selector`` or ``Options/timestamp``, ``Options/sink``
    /// and ``Options/onlySources`` count; the destination does not.
    public func locateSet(_ options: Options) async throws -> (sink: any Sink, set: SetCatalog.Entry) {
        try await findSet(options)
    }

    func findSet(_ options: Options) async throws -> (any Sink, SetCatalog.Entry) {
        let candidates: [any Sink]
        if let name = options.sink {
            guard let sink = plan.sink(named: name) else {
                throw BackupError(.usage, "--sink \(name): the plan has no sink named '\(name)'; its sinks are \(plan.sinks.map(\.name).joined(separator: ", "))")
            }
            candidates = [sink]
        } else {
            candidates = orderedSinks()
        }
        var problems: [String] = []
        var refusal: BackupError?
        for sink in candidates {
            do {
                let catalog = try await plan.catalog(in: sink)
                let sources = options.onlySources.isEmpty ? plan.sources.map(\.source.name) : options.onlySources
                if let timestamp = options.exactTimestamp {
                    if let entry = catalog.set(timestamp) { return (sink, entry) }
                    problems.append("sink '\(sink.name)' has no set \(timestamp)")
                } else if case .atOrBefore = options.selector {
                    if let entry = catalog.entry(for: options.selector, holding: sources) { return (sink, entry) }
                    problems.append("sink '\(sink.name)' has no good set holding \(sources.joined(separator: ", ")) for --set \(options.selector)")
                } else if let tampered = catalog.sets.last(where: { $0.manifestKey != nil && !$0.isFutureDated }), tampered.health.isTampered {
                    refusal = refusal ?? BackupError(.restoreFailed, "the newest set \(tampered.timestamp) in sink '\(sink.name)' is not a good set (\(tampered.problem ?? "")); no older set is restored in its place. Inspect the manifest, or choose a set with --set. Nothing was written (exit 8)")
                } else if let entry = catalog.entry(for: .latest, holding: sources) {
                    return (sink, entry)
                } else if let partial = catalog.newestGood {
                    problems.append("sink '\(sink.name)' has no good set holding \(sources.joined(separator: ", ")); its newest, \(partial.timestamp), is a partial set (--only); restore it with --only")
                } else if let unsigned = catalog.sets.last(where: { $0.health.isGoodButUnsigned && !$0.isFutureDated }) {
                    if options.allowUnsigned { return (sink, unsigned) }
                    refusal = refusal ?? BackupError(.restoreFailed, "sink '\(sink.name)' has no signed good set; its newest complete set \(unsigned.timestamp) is \(unsigned.problem ?? "unsigned"). Nothing was written (exit 8)")
                } else {
                    let newest = catalog.sets.last { $0.manifestKey != nil && !$0.isFutureDated }
                    if let truncation = newest?.truncation(in: sink.name) { refusal = refusal ?? truncation }
                    problems.append("sink '\(sink.name)' has no good set" + (newest.map { " (its newest, \($0.timestamp), is \($0.problem ?? "not good"))" } ?? ""))
                }
            } catch {
                problems.append("sink '\(sink.name)': \(error)")
            }
        }
        if let refusal { throw refusal }
        throw BackupError(.notFound, "no set to restore: \(problems.joined(separator: "; ")). `backupctl list` shows the sets.")
    }
}
