// backupctl with one more sink type: every command (run, list, verify, restore, prune, schedule, ...)
// works as in backupctl, and plan files may say `type: sharded-directory`.
import BackupCommands
import BackupKit
import CustomSinkExample

var registry = PlanRegistry.standard
registry.registerShardedDirectorySink()
await Backupctl.main(registry: registry)
