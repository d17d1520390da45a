/// A `postgres` source's `pitr:` section: continuous WAL archiving and base backups of the whole
/// server cluster the source connects to, for restores to any moment.
///
/// ```yaml
/// pitr:
///   wal_sinks: [local, offsite]        # default: every sink
///   spool: /var/lib/backupctl/wal-spool # default: <state_dir>/wal-spool/<source>
///   spool_limit: 2GiB                  # wal push fails (PostgreSQL keeps the segment) past it
///   max_wal_lag: 5m                    # wal_lag alerts when a segment waits longer
///   drill_every: 7d                    # run's PITR drill, when the last one is older
/// ```
/// `pitr: true` takes every default.
public struct PITRSettings: Sendable, Hashable {
    /// The sinks WAL goes to; nil: every sink of the plan.
    public var walSinks: [String]?
    /// The spool directory; nil: ``defaultSpool(stateDirectory:source:)``.
    public var spool: String?
    public var spoolLimit: Int64
    public var maxWALLag: PlanDuration
    /// The WAL segment size of the cluster (`initdb --wal-segsize`); 16 MiB by default.
    public var segmentSize: Int64
    /// How often `run` runs the PITR drill; nil: only `verify --pitr-drill`.
    public var drillEvery: PlanDuration?

    public init(walSinks: [String]? = nil, spool: String? = nil, spoolLimit: Int64 = 2 << 30, maxWALLag: PlanDuration = PlanDuration(seconds: 300),
                segmentSize: Int64 = 16 << 20, drillEvery: PlanDuration? = nil) {
        self.walSinks = walSinks
        self.spool = spool
        self.spoolLimit = spoolLimit
        self.maxWALLag = maxWALLag
        self.segmentSize = segmentSize
        self.drillEvery = drillEvery
    }

    public static func defaultSpool(stateDirectory: String, source: String) -> String {
        "\(stateDirectory)/wal-spool/\(source)"
    }
}

extension PITRSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case walSinks = "wal_sinks"
        case spool
        case spoolLimit = "spool_limit"
        case maxWALLag = "max_wal_lag"
        case segmentSize = "segment_size"
        case drillEvery = "drill_every"
    }

    public init(from decoder: any Decoder) throws {
        if let flag = try? decoder.singleValueContainer().decode(Bool.self) {
            guard flag else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "pitr: false is the same as leaving pitr out; remove the key"))
            }
            self.init()
            return
        }
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init()
        walSinks = try container.decodeIfPresent([String].self, forKey: .walSinks)
        if let walSinks, walSinks.isEmpty {
            throw invalidValue(.walSinks, in: container, "list at least one sink, or leave wal_sinks out to use every sink")
        }
        spool = try container.decodeIfPresent(String.self, forKey: .spool)
        if let limit = try container.decodeIfPresent(ByteSize.self, forKey: .spoolLimit) {
            guard limit.bytes >= 64 << 20 else { throw invalidValue(.spoolLimit, in: container, "must be at least 64MiB (four segments)") }
            spoolLimit = limit.bytes
        }
        if let lag = try container.decodeIfPresent(PlanDuration.self, forKey: .maxWALLag) {
            guard lag.seconds >= 1 else { throw invalidValue(.maxWALLag, in: container, "must be at least 1s") }
            maxWALLag = lag
        }
        if let size = try container.decodeIfPresent(ByteSize.self, forKey: .segmentSize) {
            guard size.bytes >= 1 << 20, size.bytes <= 1 << 30, size.bytes & (size.bytes - 1) == 0 else {
                throw invalidValue(.segmentSize, in: container, "must be a power of two from 1MiB to 1GiB, as initdb --wal-segsize sets it")
            }
            segmentSize = size.bytes
        }
        drillEvery = try container.decodeIfPresent(PlanDuration.self, forKey: .drillEvery)
    }
}
