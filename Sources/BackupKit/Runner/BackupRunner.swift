import Foundation
import Glibc
import Logging
import Synchronization

/// Carries out a ``BackupPlan``: one run makes one backup set.
///
/// The steps, in order:
/// 1. Take the plan's lock, so only one run of the plan works at a time.
/// 2. Ask every source what it will produce; any failure here ends the run before anything is written.
///    Then check every sink at once (``Sink/preflight()``): a broken one is left out of the run, which
///    ends degraded, unless no sink is healthy or the plan says `require_all_sinks`; then the run ends
///    here, before anything is written.
/// 3. Stream each source into its archive format in the staging directory, computing size and SHA-256
///    as the bytes are written.
/// 4. Verify each artifact: size rules, then read it all back (checksum, decompression, every entry).
/// 5. Store every artifact in every sink. A failing sink does not stop the others.
/// 6. Write the manifest last, to each sink that stored every artifact.
/// 7. Apply retention to each sink that received the set, only when the run did not fail.
/// 8. Send alerts through the notifiers; their failures never change the outcome.
///
/// Progress and results are ``BackupEvent`` values; nothing is printed.
public struct BackupRunner: Sendable {
    public var plan: BackupPlan
    public var logger: Logger
    public var host: String
    /// The clock for set timestamps; tests move it.
    public var now: @Sendable () -> Date

    public init(plan: BackupPlan, logger: Logger = Logger(label: "backupkit"), host: String = currentHostName(),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.plan = plan
        self.logger = logger
        self.host = host
        self.now = now
    }

    /// What a run should do besides the plan.
    public struct Options: Sendable {
        /// Back up only these sources (`--only`); empty means all. The set is then *partial*.
        public var onlySources: [String]
        /// A label such as `pre-deploy`; tagged sets are kept by `keep_tagged`, not by GFS rules.
        public var tag: String?
        /// Apply retention after a successful run.
        public var prune: Bool
        /// Send alerts.
        public var notify: Bool

        public init(onlySources: [String] = [], tag: String? = nil, prune: Bool = true, notify: Bool = true) {
            self.onlySources = onlySources
            self.tag = tag
            self.prune = prune
            self.notify = notify
        }
    }

    /// Starts a run and returns its events. The run goes on whether or not anyone iterates; stopping the
    /// iteration early cancels it.
    public func start(_ options: Options = Options()) -> BackupRun {
        let (stream, continuation) = AsyncStream.makeStream(of: BackupEvent.self)
        let task = Task {
            let report = await execute(options) { continuation.yield($0) }
            continuation.yield(.finished(report))
            continuation.finish()
            return report
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        return BackupRun(stream: stream, task: task)
    }

    /// Runs to the end and returns the report.
    public func run(_ options: Options = Options(), onEvent: (BackupEvent) -> Void = { _ in }) async -> RunReport {
        await start(options).report(onEvent: onEvent)
    }

    func execute(_ options: Options, emit: @escaping @Sendable (BackupEvent) -> Void) async -> RunReport {
        let warnings = WarningLog()
        var report = RunReport(plan: plan.name, host: host, set: nil, tag: options.tag, status: .failed, startedAt: now(), finishedAt: now())
        let staging = plan.resolvedStagingDirectory + "/" + plan.name
        var lock: RunLock?
        var primary: SetCatalog?
        let catalogs = RunCatalogs(plan: plan)
        let hooks = HookRunner(timeout: plan.hooks.timeout.seconds, logger: logger)
        var hooksRan = false
        await announceStart(report, options: options, warnings: warnings, emit: emit, into: &report.notifications)
        do {
            try plan.validate()
            // A sink to be encrypted without a recipient fails the run here, before anything is written.
            for sink in plan.sinks { _ = try plan.recipients(for: sink) }
            let selected = try selectSources(options)
            lock = try RunLock.acquire(path: plan.lockPath, plan: plan.name)
            let (signingKey, madeKey) = try plan.signingKey()
            try prepareStaging(staging)
            primary = await loadPrimaryCatalog(catalogs, warnings: warnings, emit: emit)
            try checkNewSigningKey(signingKey, made: madeKey, primary: primary)
            let timestamp = try await uniqueTimestamp(avoiding: primary)
            report.set = timestamp
            emit(.started(plan: plan.name, set: timestamp))
            hooksRan = true
            try await hooks.run(plan.hooks.beforeBackup, name: "before_backup", details: hookDetails(report))
            if !plan.hooks.beforeBackup.isEmpty {
                // A hook may have mounted, prepared or changed a sink: what retention sees is read after it.
                catalogs.forget()
            }

            // 2. Everything that can fail early fails here, before a byte is written.
            var work: [(PlanSource, SourceArtifact)] = []
            for planSource in selected {
                let context = sourceContext(planSource.source.name, staging: staging, warnings: warnings, emit: emit)
                let artifacts: [SourceArtifact]
                do {
                    artifacts = try await planSource.source.prepare(context)
                } catch {
                    let failure = BackupError.wrap(error, as: .sourceFailed, "source '\(planSource.source.name)'")
                    emit(.preflightFailed(source: planSource.source.name, code: failure.code, message: failure.message))
                    throw failure
                }
                work += artifacts.map { (planSource, $0) }
            }
            do {
                try checkStagingSpace(for: work, staging: staging, previous: primary)
            } catch let failure as BackupError {
                emit(.preflightFailed(source: nil, code: failure.code, message: failure.message))
                throw failure
            }
            let unusable = await preflightSinks(emit: emit)
            // A check stopped by a signal says nothing about its sink: the run ends as interrupted.
            try Task.checkCancellation()
            if let failure = refusal(unusable) {
                report.sinks = plan.sinks.map { sink in
                    unusable[sink.name].map { SinkOutcome(sink: sink.name, status: .failed, error: $0.message, errorCode: $0.code) }
                        ?? SinkOutcome(sink: sink.name, status: .skipped, error: "not used: the plan says require_all_sinks: true")
                }
                throw failure
            }
            await abortAbandonedUploads(skipping: Set(unusable.keys), warnings: warnings, emit: emit)

            // 3 and 4. Write and verify each artifact.
            var staged: [(StagedFile, ManifestArtifact)] = []
            // Packs of incremental sources that this set names but an earlier run stored.
            var shared: [ManifestArtifact] = []
            for (planSource, artifact) in work {
                if artifact.isIncrementalIndex {
                    let produced = try await produceIncremental(artifact, of: planSource, timestamp: timestamp, staging: staging,
                                                                previous: primary, catalogs: catalogs, warnings: warnings, emit: emit)
                    staged += produced.staged
                    shared += produced.shared
                    report.artifacts += produced.staged.map(\.1) + produced.shared
                    continue
                }
                let produced = try await produce(artifact, of: planSource, timestamp: timestamp, staging: staging,
                                                 previous: primary, warnings: warnings, emit: emit)
                staged.append(produced)
                report.artifacts.append(produced.1)
            }

            // 5 and 6. Store in every sink, then the manifest.
            let startedAt = report.startedAt
            let setArtifacts = staged.map(\.1) + shared
            let manifestFor: @Sendable ([SinkOutcome]) -> Manifest = { [plan, host, now] outcomes in
                Manifest(plan: plan.name, timestamp: timestamp, tag: options.tag, host: host, startedAt: startedAt,
                         completedAt: now(), artifacts: setArtifacts, sinks: outcomes, warnings: warnings.all,
                         sources: selected.count < plan.sources.count ? selected.map(\.source.name) : nil)
            }
            let (outcomes, manifest, storedCopies) = await store(staged, shared: shared, from: catalogs.primarySink, catalogs: catalogs, manifest: manifestFor, signingKey: signingKey, staging: staging,
                                                                 unusable: unusable, emit: emit)
            report.sinks = outcomes
            let storedIn = outcomes.filter { $0.status == .stored }.map(\.sink)
            if let manifest { catalogs.add(manifest, stored: storedCopies) }
            let storedCount = storedIn.count
            if storedCount == 0 {
                throw Self.sinkFailure("no sink stored the set", outcomes.map { ($0.sink, $0.error, $0.errorCode) })
            }
            report.status = storedCount == report.sinks.count ? .succeeded : .degraded

            // 7. Retention, only after a run that stored the set, only in sinks that got it.
            if options.prune {
                for sink in plan.sinks where storedIn.contains(sink.name) {
                    let pruner = Pruner(plan: plan, logger: logger)
                    let read = await catalogs.catalog(of: sink)
                    if case .success(let catalog) = read { warnSuspiciousSets(catalog, warnings: warnings, emit: emit) }
                    let outcome = switch read {
                    case .success(let catalog): await pruner.prune(sink, catalog: catalog, dryRun: false).outcome
                    case .failure(let error): Pruner.unlisted(sink, error).outcome
                    }
                    if let error = outcome.error { warnings.add("retention in sink '\(sink.name)': \(error)") }
                    if !outcome.deleted.isEmpty { emit(.pruned(sink: sink.name, deleted: outcome.deleted)) }
                    report.pruned.append(outcome)
                }
            }
        } catch {
            let failure = BackupError.wrap(error, as: .sourceFailed, "run of plan '\(plan.name)'")
            logger.notice("backup failed", metadata: ["plan": "\(plan.name)", "error": "\(failure.message)"])
            report.status = .failed
            report.error = failure.code == .cancelled
                ? ReportedError(code: .cancelled, message: "the run of plan '\(plan.name)' was interrupted (a signal, or its task was cancelled) and stopped at a safe point: \(failure.message)")
                : ReportedError(failure)
        }
        // What follows must happen however the run ended, a cancelled one included: the after_backup
        // hooks (which may restart the application), the staging clean-up, the state and the alerts.
        // An unstructured task does not inherit the cancellation.
        let ended = report, heldLock = lock, knownPrimary = primary
        return await Task { [self] in
            await finish(ended, hooksRan: hooksRan, hooks: hooks, lock: heldLock, staging: staging, primary: knownPrimary,
                         catalogs: catalogs, warnings: warnings, options: options, emit: emit)
        }.value
    }

    /// The end of every run: after_backup hooks, staging clean-up, heartbeat, stale check, run state,
    /// the lock's release and the alerts.
    private func finish(
        _ report: RunReport, hooksRan: Bool, hooks: HookRunner, lock: RunLock?, staging: String, primary: SetCatalog?,
        catalogs: RunCatalogs, warnings: WarningLog, options: Options, emit: @escaping @Sendable (BackupEvent) -> Void
    ) async -> RunReport {
        var report = report, primary = primary
        if hooksRan {
            var details = hookDetails(report)
            details["STATUS"] = report.status.rawValue
            do {
                try await hooks.run(plan.hooks.afterBackup, name: "after_backup", details: details)
            } catch {
                // The set is stored, but what the hook should have done (restart the app...) did not happen:
                // that must alert as loudly as a failed backup.
                let failure = BackupError.wrap(error, as: .hookFailed, "after_backup")
                report.error = ReportedError(code: failure.code, message: "\(failure.message)\(report.status == .failed ? "" : "; the set itself was stored")")
                report.status = .failed
            }
        }
        // Only the run that holds the lock may touch the staging directory: a run refused by the lock
        // must leave the running one's files alone.
        if lock != nil { try? await runBlocking { removeContents(of: staging) } }
        if let heartbeat = plan.heartbeat, let outcome = Alert.alerts(for: report).first {
            // Success, failure or degraded: a monitor must never see a failed run as a quiet one. A
            // heartbeat never changes the outcome: its failure is a warning of the run.
            do { try await heartbeat.send(outcome) } catch { warnings.add("\(error)") }
        }
        report.warnings = warnings.all
        report.finishedAt = now()
        if report.status == .failed, let limit = plan.staleAfter {
            if primary == nil { primary = await loadPrimaryCatalog(catalogs, warnings: WarningLog(), emit: { _ in }) }
            report.stale = StaleReport.check(newest: primary?.newestGood?.timestamp, limit: limit, now: report.finishedAt)
        }

        let finished = report
        try? await runBlocking { [self] in recordState(finished) }
        lock?.release()

        // 8. Alerts last, so they carry the whole story.
        if options.notify {
            report.notifications += await AlertDispatcher(notifiers: plan.notifiers, logger: logger).send(for: report, emit: emit)
        }
        return report
    }

    /// The `started` alert, before anything else: the heartbeat's `/start` ping (so the monitor times the
    /// run and notices one that never ends), and the notifiers that asked for `started`.
    private func announceStart(_ report: RunReport, options: Options, warnings: WarningLog, emit: @escaping @Sendable (BackupEvent) -> Void,
                               into outcomes: inout [NotificationOutcome]) async {
        let alert = Alert(event: .started, plan: plan.name, host: host, time: report.startedAt,
                          summary: "Backup of '\(plan.name)' on \(host) started")
        if let heartbeat = plan.heartbeat {
            do { try await heartbeat.send(alert) } catch { warnings.add("\(error)") }
        }
        if options.notify, plan.notifiers.contains(where: { $0.accepts(.started) }) {
            outcomes += await AlertDispatcher(notifiers: plan.notifiers, logger: logger).send([alert], emit: emit)
        }
    }

    func hookDetails(_ report: RunReport) -> [String: String] {
        var details = ["PLAN": plan.name, "HOST": host]
        if let set = report.set { details["SET"] = set.description }
        if let tag = report.tag { details["TAG"] = tag }
        return details
    }

    /// Keeps the run's outcome for `backupctl status`, and rewrites the metrics file when there is one.
    private func recordState(_ report: RunReport) {
        // Blocking file I/O: called on a dedicated thread.
        var state = RunState.load(path: plan.statePath, plan: plan.name)
        state.record(report, sinks: plan.sinks.map(\.name))
        do {
            try state.save(path: plan.statePath)
        } catch {
            logger.warning("cannot save the run state", metadata: ["path": "\(plan.statePath)", "error": "\(error)"])
        }
        if let path = plan.metricsFile {
            do {
                try MetricsExporter.writeFile(path, state: state)
            } catch {
                logger.warning("cannot write the metrics file", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }

    private func selectSources(_ options: Options) throws -> [PlanSource] {
        guard !options.onlySources.isEmpty else { return plan.sources }
        for name in options.onlySources where plan.source(named: name) == nil {
            throw BackupError(.usage, "--only \(name): the plan has no source named '\(name)'; its sources are \(plan.sources.map(\.source.name).joined(separator: ", "))")
        }
        if let tag = options.tag, !ArtifactName.isValidName(tag) {
            throw BackupError(.usage, "--tag \(tag): use letters, digits, '.' and '-'")
        }
        return plan.sources.filter { options.onlySources.contains($0.source.name) }
    }

    /// A key this run just made is the plan's first, unless the sink already holds sets signed by
    /// another: then the key file was lost or moved, and signing with a new one would make every older
    /// set fail its check. The new key is removed and the run refused.
    private func checkNewSigningKey(_ key: ManifestSigningKey, made: Bool, primary: SetCatalog?) throws {
        guard made else { return }
        if let primary, let signed = primary.sets.first(where: { if case .badSignature = $0.health { true } else { false } }) {
            unlink(key.path)
            throw BackupError(.invalidPlan, "the plan's signing key \(key.path) was missing, but sink '\(primary.sinkName)' holds sets signed with another key (set \(signed.timestamp) among them): put the key file back from its copy (or point signing.key_file at it); a new key would make those sets fail their check. No key was made")
        }
        logger.notice("made the plan's signing key: keep a copy apart from the backups, and give restore hosts its public key (`backupctl key`)",
                      metadata: ["plan": "\(plan.name)", "key_file": "\(key.path)", "key_id": "\(key.publicKey.id)"])
    }

    private func prepareStaging(_ staging: String) throws {
        try makeDirectory(staging, purpose: "the staging directory (staging_dir)")
        // Whatever is here was left by a run that was killed; we hold the lock, so it is ours to remove.
        removeContents(of: staging)
    }

    /// Aborts, in every usable sink that keeps unfinished uploads, the abandoned ones of this plan's keys
    /// (a killed or stalled run's), and says so as a warning of the run. A sink that cannot list or
    /// abort them only adds a warning: the backup goes on.
    private func abortAbandonedUploads(skipping unusable: Set<String>, warnings: WarningLog, emit: @Sendable (BackupEvent) -> Void) async {
        let plan = plan
        for case let sink as any AbandonedUploadSweeping in plan.sinks where !unusable.contains(sink.name) {
            let message: String
            do {
                let aborted = try await sink.abortAbandonedUploads { plan.ownsKey($0) }
                guard !aborted.isEmpty else { continue }
                message = "sink '\(sink.name)': aborted \(aborted.count) abandoned upload(s) of an earlier run: \(aborted.sorted().joined(separator: ", "))"
            } catch {
                message = "sink '\(sink.name)': cannot abort abandoned uploads (they keep costing storage): \(BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)'").message)"
            }
            warnings.add(message)
            emit(.warning(source: nil, message: message))
        }
    }

    /// The catalog of the first sink, preferring one on this host; used for the shrink check, unique
    /// timestamps and the stale check. A sink that cannot be read here is not fatal: storing will report it.
    private func loadPrimaryCatalog(_ catalogs: RunCatalogs, warnings: WarningLog, emit: @Sendable (BackupEvent) -> Void) async -> SetCatalog? {
        guard let sink = catalogs.primarySink else { return nil }
        switch await catalogs.catalog(of: sink) {
        case .success(let catalog):
            warnSuspiciousSets(catalog, warnings: warnings, emit: emit)
            return catalog
        case .failure(let error):
            let message = "cannot read sink '\(sink.name)' to find the previous good set (the shrink check is skipped): \(error.message)"
            warnings.add(message)
            emit(.warning(source: nil, message: message))
            return nil
        }
    }

    /// Warns, once per set, of the sets in `catalog` dated in the future: they are not good, so they
    /// never count as the previous or newest good set, and retention keeps them; people must look.
    /// Warns (in the report, the manifest and the alert) of sets someone or something changed: dated in
    /// the future, or with a manifest that cannot be decoded, holds an invalid name or fails its signature.
    private func warnSuspiciousSets(_ catalog: SetCatalog, warnings: WarningLog, emit: @Sendable (BackupEvent) -> Void) {
        for entry in catalog.sets where entry.isFutureDated || entry.health.isTampered {
            let message = "sink '\(catalog.sinkName)' holds set \(entry.timestamp), \(entry.problem ?? "dated in the future")"
            guard !warnings.all.contains(message) else { continue }
            warnings.add(message)
            emit(.warning(source: nil, message: message))
        }
    }

    /// Stops before writing when the staging volume lacks room for what this run will stage: the same
    /// artifact's size in the previous good set, else a quarter of the source's own size estimate (the
    /// whole of it when uncompressed), plus 10% and 1 MiB.
    private func checkStagingSpace(for work: [(PlanSource, SourceArtifact)], staging: String, previous: SetCatalog?) throws {
        var needed: Int64 = 0
        for (planSource, artifact) in work {
            let compresses = try (planSource.archive ?? plan.archive).format(for: artifact, in: plan.formats).compresses
            let previousSize = previous?.previousSize(source: planSource.source.name, subject: artifact.subject)
            needed += previousSize ?? artifact.expectedContentBytes.map { compresses ? $0 / 4 : $0 } ?? 0
        }
        guard needed > 0 else { return }
        needed += needed / 10 + (1 << 20)
        var info = statvfs()
        guard statvfs(staging, &info) == 0 else { return }
        let available = Int64(info.f_bavail) * Int64(info.f_frsize)
        if available < needed {
            throw BackupError(.diskSpace, "the staging volume at \(staging) has \(formatBytes(available)) free, but this run needs about \(formatBytes(needed)) to stage its artifacts. Free space there, or set staging_dir to a larger volume. Nothing was written.")
        }
    }

    /// A timestamp no set of this plan has yet; two runs in the same second wait for the next one.
    private func uniqueTimestamp(avoiding catalog: SetCatalog?) async throws -> SetTimestamp {
        var timestamp = SetTimestamp(now())
        while catalog?.set(timestamp) != nil {
            try await Task.sleep(for: .milliseconds(250))
            timestamp = SetTimestamp(now())
        }
        return timestamp
    }

    func sourceContext(_ source: String, staging: String, warnings: WarningLog, emit: @escaping @Sendable (BackupEvent) -> Void,
                       counters: ProgressCounters? = nil, cancellation: CancellationFlag? = nil, incremental: IncrementalSession? = nil) -> SourceContext {
        SourceContext(
            planName: plan.name,
            logger: logger,
            stagingDirectory: staging,
            warn: { message in
                let text = "\(source): \(message)"
                warnings.add(text)
                emit(.warning(source: source, message: message))
            },
            progress: { bytes in counters?.content.add(bytes) },
            isCancelled: { cancellation?.isSet ?? false },
            incremental: incremental
        )
    }
}

/// Removes every file in a directory (not the directory itself); errors are ignored.
func removeContents(of directory: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for name in names { try? FileManager.default.removeItem(atPath: directory + "/" + name) }
}

/// This host's name, for manifests and alerts.
public func currentHostName() -> String {
    var buffer = [UInt8](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "unknown-host" }
    return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
}
