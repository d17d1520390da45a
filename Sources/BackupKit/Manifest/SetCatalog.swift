/// The backup sets of one plan in one sink, read from the sink's listing and manifests.
public struct SetCatalog: Sendable {
    /// One set: the files that share a timestamp, and its manifest if it has one.
    public struct Entry: Sendable {
        public var timestamp: SetTimestamp
        public var manifest: Manifest?
        public var manifestKey: String?
        /// The set's stored files other than the manifest.
        public var objects: [StoredObject]
        /// Why the set is not good, or nil when it is.
        public var problem: String?

        /// Complete (manifest present, every artifact stored at its recorded size) and verified.
        public var isGood: Bool { problem == nil }

        /// Every key of the set, manifest first, so that deleting in this order never leaves a manifest
        /// that points at missing files.
        public var keys: [String] { (manifestKey.map { [$0] } ?? []) + objects.map(\.key) }

        public var size: Int64 { objects.reduce(0) { $0 + $1.size } }
    }

    public var sinkName: String
    public var plan: String
    /// Oldest first.
    public var sets: [Entry]

    public var newestGood: Entry? { sets.last { $0.isGood } }

    public func set(_ timestamp: SetTimestamp) -> Entry? { sets.first { $0.timestamp == timestamp } }

    /// Lists `sink` and reads the plan's manifests. Files of a timestamp without a manifest belong to the
    /// plan when their name starts with one of `sourceNames` and no other plan's manifest claims them.
    public static func load(from sink: any Sink, plan: String, sourceNames: Set<String>) async throws -> SetCatalog {
        let objects = try await sink.list()
        var byTimestamp: [SetTimestamp: [StoredObject]] = [:]
        var manifests: [SetTimestamp: [(plan: String, key: String)]] = [:]
        for object in objects {
            if let (owner, timestamp) = ArtifactName.manifestPlan(object.key) {
                manifests[timestamp, default: []].append((owner, object.key))
            } else if let parts = ArtifactName.parse(object.key) {
                byTimestamp[parts.timestamp, default: []].append(object)
            }
        }
        var entries: [Entry] = []
        let timestamps = Set(byTimestamp.keys).union(manifests.filter { $0.value.contains { $0.plan == plan } }.keys)
        for timestamp in timestamps.sorted() {
            let files = byTimestamp[timestamp] ?? []
            let others = manifests[timestamp, default: []].filter { $0.plan != plan }
            var claimed = Set<String>()
            for other in others {
                if let manifest = try? await readManifest(other.key, from: sink) { claimed.formUnion(manifest.artifacts.map(\.name)) }
            }
            guard let ownKey = manifests[timestamp]?.first(where: { $0.plan == plan })?.key else {
                let orphans = files.filter { !claimed.contains($0.key) && sourceNames.contains(sourceName(of: $0.key)) }
                if !orphans.isEmpty {
                    entries.append(Entry(timestamp: timestamp, manifest: nil, manifestKey: nil, objects: orphans,
                                         problem: "incomplete: no manifest (the run that wrote it failed or was killed)"))
                }
                continue
            }
            var entry = Entry(timestamp: timestamp, manifest: nil, manifestKey: ownKey, objects: [], problem: nil)
            do {
                let manifest = try await readManifest(ownKey, from: sink)
                entry.manifest = manifest
                let listed = Set(manifest.artifacts.map(\.name))
                entry.objects = files.filter { listed.contains($0.key) }
                let sizes = Dictionary(files.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a })
                if let missing = manifest.artifacts.first(where: { sizes[$0.name] == nil }) {
                    entry.problem = "damaged: \(missing.name) is missing"
                } else if let wrong = manifest.artifacts.first(where: { sizes[$0.name] != $0.size }) {
                    entry.problem = "damaged: \(wrong.name) is \(sizes[wrong.name]!) bytes, the manifest says \(wrong.size)"
                } else if !manifest.isVerified {
                    entry.problem = "unverified: an artifact failed verification"
                }
            } catch {
                entry.objects = files.filter { !claimed.contains($0.key) && sourceNames.contains(sourceName(of: $0.key)) }
                entry.problem = "unreadable manifest: \(error)"
            }
            entries.append(entry)
        }
        return SetCatalog(sinkName: sink.name, plan: plan, sets: entries)
    }

    /// Reads and decodes a manifest.
    public static func readManifest(_ key: String, from sink: any Sink) async throws -> Manifest {
        let (destination, contents) = ByteDestination.memory()
        try await sink.get(key, into: destination)
        return try Manifest.decode(contents(), key: key)
    }

    static func sourceName(of key: String) -> String {
        String(key.prefix { $0 != "_" })
    }
}
