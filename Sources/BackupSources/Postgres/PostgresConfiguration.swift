import BackupKit

extension PostgresSource.Configuration: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, host, port, user, database, databases, sslmode, password, format, globals, jobs
        case passwordFile = "password_file"
        case binDirectory = "bin_dir"
        case restoreTest = "restore_test"
        case lockWaitTimeout = "lock_wait_timeout"
        case pitr
    }

    /// Decodes the plan's keys; relative `*_file` paths stay as written until `resolvingPaths(with:)`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.source)
        connection = try ServerKeys.decode(from: container, url: .url, host: .host, port: .port, user: .user, sslmode: .sslmode,
                                           password: .password, passwordFile: .passwordFile)
        if let database = try container.decodeIfPresent(String.self, forKey: .database) { connection.database = database }
        if let all = try? container.decodeIfPresent(String.self, forKey: .databases) {
            guard all == "all" else { throw invalidValue(.databases, in: container, "write a list of databases, or \"all\"") }
            databases = .all
        } else if let list = try container.decodeIfPresent([String].self, forKey: .databases) {
            guard !list.isEmpty else { throw invalidValue(.databases, in: container, "list at least one database, or write \"all\"") }
            databases = .list(list)
        } else {
            databases = .configured
        }
        let formatName = try container.decodeIfPresent(String.self, forKey: .format) ?? "plain"
        guard let format = PostgresSource.DumpFormat(rawValue: formatName) else {
            throw invalidValue(.format, in: container, "unknown format '\(formatName)'; use plain (.sql.gz) or custom (.dump for pg_restore -j)")
        }
        self.format = format
        globals = try container.decodeIfPresent(Bool.self, forKey: .globals) ?? false
        binDirectory = try container.decodeIfPresent(String.self, forKey: .binDirectory)
        jobs = try container.decodeIfPresent(Int.self, forKey: .jobs)
        if let jobs, jobs < 1 { throw invalidValue(.jobs, in: container, "must be at least 1") }
        restoreTestServer = try container.decodeIfPresent(RestoreTestServer.self, forKey: .restoreTest)?.settings
        lockWaitTimeout = try container.decodeIfPresent(PlanDuration.self, forKey: .lockWaitTimeout) ?? Self.defaultLockWaitTimeout
        guard Self.lockWaitTimeoutBounds.contains(lockWaitTimeout.seconds) else {
            throw invalidValue(.lockWaitTimeout, in: container, "must be between 1s and 24h; 0 would let a table lock make the dump wait forever")
        }
        pitr = try container.decodeIfPresent(PITRSettings.self, forKey: .pitr)
    }

    /// The `restore_test:` section: the server restore drills use.
    struct RestoreTestServer: Decodable {
        var settings: PostgresConnectionSettings

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url, host, port, user, sslmode, password
            case passwordFile = "password_file"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
            settings = try ServerKeys.decode(from: container, url: .url, host: .host, port: .port, user: .user, sslmode: .sslmode,
                                             password: .password, passwordFile: .passwordFile)
        }
    }
}

/// The connection keys shared by the source and its `restore_test:` section.
enum ServerKeys {
    static func decode<K: CodingKey>(from container: KeyedDecodingContainer<K>, url: K, host: K, port: K, user: K, sslmode: K,
                                     password: K, passwordFile: K) throws -> PostgresConnectionSettings {
        var fields = PostgresConnectionSettings(
            host: try container.decodeIfPresent(String.self, forKey: host),
            port: try container.decodeIfPresent(Int.self, forKey: port),
            user: try container.decodeIfPresent(String.self, forKey: user),
            sslmode: try container.decodeIfPresent(String.self, forKey: sslmode),
            password: try container.decodeSecretIfPresent(password, fileKey: passwordFile)
        )
        if let text = try container.decodeIfPresent(String.self, forKey: url), !text.isEmpty {
            do {
                fields = fields.overriding(try PostgresConnectionSettings(url: text))
            } catch let error as BackupError {
                throw invalidValue(url, in: container, error.message)
            }
        }
        return fields
    }
}

extension PostgresConnectionSettings {
    /// Makes a relative password file path absolute against the plan's directory.
    func resolvingPaths(with definition: ComponentDefinition) -> PostgresConnectionSettings {
        var copy = self
        if case .file(let path)? = password?.storage { copy.password = .file(definition.resolvePath(path)) }
        return copy
    }
}

extension PlanRegistry {
    /// Registers the `postgres` source type, and `DATABASE_URL` (as the source `db`) for plans built from
    /// the environment.
    public mutating func registerPostgresSource() {
        registerSource(type: PostgresSource.typeName) { definition, decoder in
            var configuration = try PostgresSource.Configuration(from: decoder)
            configuration.connection = configuration.connection.resolvingPaths(with: definition)
            configuration.restoreTestServer = configuration.restoreTestServer?.resolvingPaths(with: definition)
            configuration.binDirectory = configuration.binDirectory.map(definition.resolvePath)
            if let spool = configuration.pitr?.spool { configuration.pitr?.spool = definition.resolvePath(spool) }
            return PostgresSource(name: definition.name, configuration: configuration, environment: definition.environment)
        }
        addEnvironmentContribution(to: "sources", reading: ["DATABASE_URL", "BACKUP_PG_PASSWORD_FILE"]) { environment in
            guard let url = environment["DATABASE_URL"], !url.isEmpty else { return [] }
            var source: [String: JSONValue] = ["name": .string("db"), "type": .string(PostgresSource.typeName), "url": .string(url)]
            if let file = environment["BACKUP_PG_PASSWORD_FILE"] { source["password_file"] = .string(file) }
            return [.object(source)]
        }
    }
}
