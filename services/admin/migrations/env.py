from common.migrations import run_env
from services.admin.store.tables import metadata

run_env(metadata)
