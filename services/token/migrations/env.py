from common.migrations import run_env
from services.token.store.tables import metadata

run_env(metadata)
