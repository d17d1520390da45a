import Foundation
import Synchronization

/// The backup sets of one plan in one sink, read from the sink's listing and manifests.
public struct SetCatalog: Sendable {
    /// One set: the files that share a timestamp, and its manifest if it has one.
    public struct Entry: Sendable {
        public var timestamp: SetTimestamp
        public var manifest: Manifest?
        public var manifestKey: String?
        /// The set's stored files other than the manifest.
        public var objects: [StoredObject]
        /// The packs of incremental sources the set names and the sink holds. They are shared with other
        /// sets: not in ``objects``, which retention deletes with the set.
        public var packs: [StoredObject] = []
        public var health: SetHealth
        /// Why retention must keep the set although it is not good (an unreadable manifest to inspect,
        /// files that may belong to a run in progress), or nil.
        public var protection: String?
        /// What checking the manifest's signature found; nil without a manifest, or one that is not used
        /// for another reason (undecodable, an invalid name).
        public var signature: SignatureCheck?
        /// The set's sealed manifest, when the sink is encrypted (``SealedManifest``). ``manifest`` is then
        /// the full manifest inside it, or nil when this host has no identity that opens it.
        public var sealed: SealedManifest?
        /// Why the full manifest of a sealed set could not be opened here (no identity, another one).
        public var sealedProblem: BackupError?

        /// The set's tag, from whichever manifest this host can read.
        public var tag: String? { manifest?.tag ?? sealed?.tag }
        /// Whether the set covers only some sources.
        public var isPartial: Bool { manifest?.isPartial ?? (sealed?.sources != nil) }

        /// Whether the set holds `source`: a full set holds every source; a partial one (`--only`) the
        /// ones it names.
        public func holds(source: String) -> Bool {
            guard let names = manifest?.sources ?? sealed?.sources else { return true }
            return names.contains(source)
        }
        /// Whether every artifact passed verification when the set was written.
        public var isVerified: Bool? { manifest?.isVerified ?? sealed?.verified }

        /// The error for an encrypted set one of whose files the sink holds shorter than its signed
        /// manifest records; nil otherwise.
        public func truncation(in sink: String) -> BackupError? {
            guard sealed != nil, case .wrongSize(let key, let stored, let recorded) = health, stored < recorded else { return nil }
            return BackupError(.encryptedDataTruncated, "\(key) in sink '\(sink)' is \(stored) bytes, but the signed manifest of set \(timestamp) records \(recorded): it was cut short. Nothing was written; restore from another sink or set")
        }

        /// Complete (manifest present, every artifact stored at its recorded size) and verified.
        public var isGood: Bool { health.isGood }
        /// Good, or (with `allowingUnsigned`, as `--allow-unsigned` says) good but for its signature.
        public func isRestorable(allowingUnsigned: Bool) -> Bool { isGood || (allowingUnsigned && health.isGoodButUnsigned) }
        /// Why the set is not good, for people; nil when it is.
        public var problem: String? { health.problem }
        /// Dated more than ``SetCatalog/futureTolerance`` ahead of the clock it was catalogued by.
        public var isFutureDated: Bool {
            if case .futureDated = health { true } else { false }
        }

        /// Every key of the set, manifest first, so that deleting in this order never leaves a manifest
        /// that points at missing files.
        public var keys: [String] { (manifestKey.map { [$0] } ?? []) + objects.map(\.key) }

        public var size: Int64 { objects.reduce(0) { $0 + $1.size } }
    }

    public var sinkName: String
    public var plan: String
    /// Oldest first.
    public var sets: [Entry]
    /// Every pack of the plan the sink held when it was listed, named by a set or not.
    public var packs: [StoredObject] = []

    public var newestGood: Entry? { sets.last { $0.isGood } }

    /// Sets dated more than ``futureTolerance`` ahead of the clock: none of them is good.
    public var futureDated: [Entry] { sets.filter(\.isFutureDated) }

    /// How far ahead of this host's clock a set's timestamp may be and still count: clocks of the hosts
    /// writing to one sink may disagree by a few minutes. A set further ahead (a clock a year off, a
    /// tampered manifest) is ``SetHealth/futureDated(by:)``: never the newest good set, kept by retention.
    public static let futureTolerance: TimeInterval = 3600

    public func set(_ timestamp: SetTimestamp) -> Entry? { sets.first { $0.timestamp == timestamp } }

    /// Lists `sink` and reads the plan's manifests.
    ///
    /// Files of a timestamp without a manifest of this plan (a failed or killed run) belong to the plan
    /// only when their `<source>_<subject>` appears in one of the plan's own manifests and no other
    /// plan's manifest claims them, so two plans sharing a directory never take each other's files.
    /// Such files younger than an hour are protected: they may belong to a run still storing them.
    /// A manifest that cannot be decoded, or whose names break the plan's rules
    /// (``Manifest/nameProblem(key:)``), protects its set and is never used: its set is not good and
    /// none of its names count. A manifest that cannot be *read* (a network failure) makes the whole
    /// load throw, so retention never acts on a partial picture. A set dated more than
    /// ``futureTolerance`` after `now` is ``SetHealth/futureDated(by:)`` and protected, whatever else
    /// is wrong with it.
    ///
    /// Every manifest's signature is checked with `publicKey` (nil: this host has none): a signature that
    /// fails makes the set ``SetHealth/badSignature(manifest:problem:)``, rejected like an invalid
    /// manifest; a complete set without a signature, or whose signature cannot be checked, is
    /// ``SetHealth/unsigned(manifest:)`` or ``SetHealth/unverifiableSignature(manifest:keyID:)``.
    ///
    /// An encrypted sink's sets have a ``SealedManifest``: its ciphertext names and sizes are checked
    /// against the listing, its signature with `publicKey`, and the full manifest inside is opened when
    /// one of `identities` can.
    public static func load(from sink: any Sink, plan: String, sourceNames: Set<String>, publicKey: ManifestPublicKey?,
                            identities: [AgeIdentity] = [], now: Date = Date()) async throws -> SetCatalog {
        let objects = try await SinkCallLog.run("list", sink) { try await sink.list() }
        var byTimestamp: [SetTimestamp: [StoredObject]] = [:]
        var manifests: [SetTimestamp: [(plan: String, key: String, size: Int64)]] = [:]
        var packSizes: [String: Int64] = [:]
        for object in objects where ArtifactName.isPack(object.key, plan: plan) {
            packSizes[object.key] = object.size
        }
        for object in objects {
            if let (owner, timestamp) = ArtifactName.manifestPlan(object.key) {
                manifests[timestamp, default: []].append((owner, object.key, object.size))
            } else if let parts = ArtifactName.parse(object.key) {
                byTimestamp[parts.timestamp, default: []].append(object)
            }
        }

        // The plan's own sets first: they say which artifact names are the plan's.
        var entries: [SetTimestamp: Entry] = [:]
        var ownPrefixes = Set<String>()
        for (timestamp, list) in manifests {
            guard let own = list.first(where: { $0.plan == plan }) else { continue }
            let ownKey = own.key
            let files = byTimestamp[timestamp] ?? []
            var entry = Entry(timestamp: timestamp, manifest: nil, manifestKey: ownKey, objects: [], health: .good)
            let manifest: Manifest?
            switch try await readUsableManifest(ownKey, size: own.size, from: sink, publicKey: publicKey, identities: identities) {
            case .usable(let usable, let sealed, let signature, let sealedProblem):
                manifest = usable
                entry.sealed = sealed
                entry.signature = signature
                entry.sealedProblem = sealedProblem
            case .rejected(let health, let protection):
                entry.objects = files.filter { sourceNames.contains(sourceName(of: $0.key)) }
                entry.health = health
                if case .badSignature(_, let problem) = health { entry.signature = .invalid(problem) }
                entry.protection = protection
                entries[timestamp] = entry
                continue
            }
            entry.manifest = manifest
            // What the sink must hold: the ciphertexts a sealed manifest lists, else the artifacts.
            let expected: [(key: String, size: Int64, accepted: Set<Int64>)] = entry.sealed.map { $0.artifacts.map { ($0.key, $0.size, $0.acceptedSizes) } }
                ?? manifest!.artifacts.map { ($0.name, $0.size, [$0.size]) }
            let names = entry.sealed.map { $0.artifacts.map(\.name) } ?? manifest!.artifacts.map(\.name)
            ownPrefixes.formUnion(names.compactMap { ArtifactName.parse($0)?.prefix })
            let listed = Set(expected.map(\.key))
            entry.objects = files.filter { listed.contains($0.key) }
            entry.packs = expected.compactMap { item in packSizes[item.key].map { StoredObject(key: item.key, size: $0) } }
            // Packs are shared between sets and have no timestamp: they are looked up in the whole listing.
            let sizes = files.reduce(into: packSizes) { $0[$1.key] = $1.size }
            if let missing = expected.first(where: { sizes[$0.key] == nil }) {
                entry.health = .missingArtifact(missing.key)
            } else if let wrong = expected.first(where: { !$0.accepted.contains(sizes[$0.key]!) }) {
                entry.health = .wrongSize(artifact: wrong.key, stored: sizes[wrong.key]!, recorded: wrong.size)
            } else if entry.isVerified != true {
                entry.health = .unverified
            } else {
                switch entry.signature {
                case .valid, nil: break
                case .unsigned: entry.health = .unsigned(manifest: ownKey)
                case .noKey(let keyID): entry.health = .unverifiableSignature(manifest: ownKey, keyID: keyID)
                case .invalid: break // rejected when read
                }
            }
            entries[timestamp] = entry
        }

        // Then files no manifest of this plan lists.
        for (timestamp, files) in byTimestamp where entries[timestamp] == nil {
            var claimed = Set<String>()
            var uncertain = false
            for other in manifests[timestamp] ?? [] where other.plan != plan {
                if case .usable(let manifest, let sealed, _, _) = try await readUsableManifest(other.key, size: other.size, from: sink, publicKey: nil) {
                    claimed.formUnion(sealed.map { $0.artifacts.map(\.key) } ?? manifest?.artifacts.map(\.name) ?? [])
                } else {
                    uncertain = true
                }
            }
            guard !uncertain else { continue }
            let orphans = files.filter { file in
                !claimed.contains(file.key) && sourceNames.contains(sourceName(of: file.key))
                    && ArtifactName.parse(file.key).map { ownPrefixes.contains($0.prefix) } == true
            }
            guard !orphans.isEmpty else { continue }
            var entry = Entry(timestamp: timestamp, manifest: nil, manifestKey: nil, objects: orphans, health: .incomplete)
            if let newest = orphans.compactMap(\.modified).max(), now.timeIntervalSince(newest) < 3600 {
                entry.protection = "incomplete, but written less than an hour ago: it may belong to a run in progress"
            }
            entries[timestamp] = entry
        }
        for (timestamp, entry) in entries {
            let ahead = timestamp.date.timeIntervalSince(now)
            guard ahead > futureTolerance else { continue }
            var flagged = entry
            flagged.health = .futureDated(by: ahead)
            flagged.protection = flagged.protection ?? "dated \(formatDuration(ahead)) in the future: kept for inspection"
            entries[timestamp] = flagged
        }
        var catalog = SetCatalog(sinkName: sink.name, plan: plan, sets: entries.values.sorted { $0.timestamp < $1.timestamp })
        catalog.packs = packSizes.map { StoredObject(key: $0.key, size: $0.value) }
        return catalog
    }

    /// This catalog with the set of `manifest`, just stored as `objects`, in place of any set of that
    /// timestamp.
    package func adding(_ manifest: Manifest, sealed: SealedManifest?, objects: [StoredObject]) -> SetCatalog {
        var copy = self
        copy.sets.removeAll { $0.timestamp == manifest.timestamp }
        var entry = Entry(timestamp: manifest.timestamp, manifest: manifest, manifestKey: manifest.key, objects: objects,
                          health: manifest.isVerified ? .good : .unverified)
        entry.sealed = sealed
        entry.packs = manifest.artifacts.filter(\.isPack).map { StoredObject(key: $0.name, size: $0.size) }
        copy.sets.append(entry)
        copy.sets.sort { $0.timestamp < $1.timestamp }
        return copy
    }

    /// A manifest as the catalog may use it, or why it may not.
    enum ManifestReading {
        /// Usable, with what its signature check found (never ``SignatureCheck/invalid(_:)``). A sealed
        /// manifest comes with the full manifest inside when an identity opened it, else nil and why not.
        case usable(Manifest?, SealedManifest?, SignatureCheck, sealedProblem: BackupError?)
        /// Undecodable, or a name in it is invalid: the set's health, and why retention keeps it.
        case rejected(SetHealth, protection: String)
    }

    /// Reads a manifest and checks its names and, with `publicKey`, that its signature is not invalid.
    /// Failing to *read* it throws.
    static func readUsableManifest(_ key: String, size: Int64, from sink: any Sink, publicKey: ManifestPublicKey?,
                                   identities: [AgeIdentity] = []) async throws -> ManifestReading {
        guard size <= maximumManifestBytes else {
            return .rejected(.oversizedManifest(manifest: key, size: size), protection: "its manifest is too large to read: kept for inspection")
        }
        let manifest: Manifest
        do {
            let bytes = try await readManifestBytes(key, from: sink)
            if let sealed = SealedManifest.decodeIfSealed(bytes) {
                return readSealed(sealed, key: key, publicKey: publicKey, identities: identities)
            }
            manifest = try Manifest.decode(bytes, key: key)
        } catch let error as BackupError where error.code == .archive {
            return .rejected(.unreadableManifest, protection: "its manifest cannot be decoded: kept for inspection")
        }
        if let problem = manifest.nameProblem(key: key) {
            return .rejected(.invalidManifest(manifest: key, problem: problem), protection: "its manifest holds an invalid name: kept for inspection")
        }
        let signature = manifest.checkSignature(with: publicKey)
        if case .invalid(let problem) = signature {
            return .rejected(.badSignature(manifest: key, problem: problem), protection: "its manifest's signature fails: kept for inspection")
        }
        return .usable(manifest, nil, signature, sealedProblem: nil)
    }

    /// Checks a sealed manifest's names and signature, and opens the manifest inside with `identities`
    /// when one of them can (that one's names and signature are checked too).
    static func readSealed(_ sealed: SealedManifest, key: String, publicKey: ManifestPublicKey?, identities: [AgeIdentity]) -> ManifestReading {
        guard let (owner, timestamp) = ArtifactName.manifestPlan(key), owner == sealed.plan, timestamp == sealed.timestamp else {
            return .rejected(.invalidManifest(manifest: key, problem: "its plan or timestamp is not its name's"), protection: "its manifest holds an invalid name: kept for inspection")
        }
        if let problem = sealed.nameProblem() {
            return .rejected(.invalidManifest(manifest: key, problem: problem), protection: "its manifest holds an invalid name: kept for inspection")
        }
        let signature = sealed.checkSignature(with: publicKey)
        if case .invalid(let problem) = signature {
            return .rejected(.badSignature(manifest: key, problem: problem), protection: "its manifest's signature fails: kept for inspection")
        }
        let inner: Manifest
        do {
            inner = try sealed.open(with: identities)
        } catch {
            return .usable(nil, sealed, signature, sealedProblem: BackupError.wrap(error, as: .encryptedDataDamaged, "the manifest of set \(sealed.timestamp) in sink '\(sealed.sink)'"))
        }
        if let problem = inner.nameProblem(key: key) {
            return .rejected(.invalidManifest(manifest: key, problem: problem), protection: "its manifest holds an invalid name: kept for inspection")
        }
        if case .invalid(let problem) = inner.checkSignature(with: publicKey) {
            return .rejected(.badSignature(manifest: key, problem: "the manifest inside: \(problem)"), protection: "its manifest's signature fails: kept for inspection")
        }
        return .usable(inner, sealed, signature, sealedProblem: nil)
    }

    /// The size of the newest good artifact of `source` and `subject`, for the shrink check and space estimates.
    public func previousSize(source: String, subject: String) -> Int64? {
        previousArtifact(source: source, subject: subject)?.size
    }

    /// The newest good artifact of `source` and `subject`: its size and content bytes are what the next
    /// one's are likely to be.
    public func previousArtifact(source: String, subject: String) -> ManifestArtifact? {
        let subject = ArtifactName.sanitizedSubject(subject)
        return sets.reversed().lazy.filter(\.isGood)
            .compactMap { $0.manifest?.artifacts.first { $0.source == source && $0.subject == subject && !$0.isPack } }
            .first
    }

    /// The newest good set's index of the incremental `source` and `subject`, with the packs that set
    /// lists for it; nil when the newest good set holding the source has no such index (none yet, or a
    /// full archive).
    public func previousIncremental(source: String, subject: String) -> (index: ManifestArtifact, packs: [ManifestArtifact], sealed: SealedManifest?)? {
        let subject = ArtifactName.sanitizedSubject(subject)
        for set in sets.reversed() where set.isGood {
            guard let artifacts = set.manifest?.artifacts, let own = artifacts.first(where: { $0.source == source && $0.subject == subject && !$0.isPack }) else { continue }
            guard own.isIncrementalIndex else { return nil }
            return (own, artifacts.filter { $0.isPack && $0.source == source && $0.subject == subject }, set.sealed)
        }
        return nil
    }

    /// Reads and decodes a manifest.
    /// The largest manifest read. BackupKit's own are a few KiB; a larger file named like a manifest is
    /// damage or an attack, and reading it whole would take that much memory.
    public static let maximumManifestBytes: Int64 = 64 << 20

    public static func readManifest(_ key: String, from sink: any Sink) async throws -> Manifest {
        try Manifest.decode(try await readManifestBytes(key, from: sink), key: key)
    }

    /// Reads a manifest's bytes, at most ``maximumManifestBytes``.
    static func readManifestBytes(_ key: String, from sink: any Sink) async throws -> [UInt8] {
        let limit = Int(maximumManifestBytes)
        let buffer = Mutex<[UInt8]>([])
        let destination = ByteDestination { bytes in
            try buffer.withLock { contents in
                guard contents.count + bytes.count <= limit else {
                    throw BackupError(.archive, "manifest \(key) holds more than \(formatBytes(Int64(limit))), more than any manifest; it was not read to the end")
                }
                contents.append(contentsOf: bytes)
            }
        }
        try await SinkCallLog.run("get", sink, key) { try await sink.get(key, into: destination) }
        return buffer.withLock { $0 }
    }

    static func sourceName(of key: String) -> String {
        String(key.prefix { $0 != "_" })
    }
}

extension BackupPlan {
    /// This plan's sets in `sink`, as of `now` (which decides what is incomplete but recent, and what
    /// is dated in the future).
    public func catalog(in sink: any Sink, now: Date = Date()) async throws -> SetCatalog {
        try await SetCatalog.load(from: sink, plan: name, sourceNames: Set(sources.map(\.source.name)), publicKey: try manifestPublicKey(),
                                  identities: identities, now: now)
    }
}
