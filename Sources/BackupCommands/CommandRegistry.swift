import BackupKit
import BackupNotifiers
import BackupSinks
import BackupSources
import Synchronization

extension PlanRegistry {
    /// Every component type BackupKit ships: the standard sources, sinks, notifiers and formats.
    public static var standard: PlanRegistry {
        var registry = PlanRegistry()
        registry.registerStandardSources()
        registry.registerStandardSinks()
        registry.registerStandardNotifiers()
        return registry
    }
}

/// The registry the commands load plans with: the one given to ``Backupctl/main(registry:)``, else
/// ``PlanRegistry/standard``. Commands are types that the argument parser makes, so the registry is
/// set once per process before parsing rather than passed in.
enum CommandRegistry {
    private static let current = Mutex<PlanRegistry?>(nil)

    static func install(_ registry: PlanRegistry) {
        current.withLock { $0 = registry }
    }

    static var registry: PlanRegistry {
        current.withLock { $0 } ?? .standard
    }
}
