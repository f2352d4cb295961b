from common.migrations import run_env
from services.clients.store.tables import metadata

run_env(metadata)
