"""`python -m workbench …`: the same CLI as the `workbench` command."""
import sys

from .cli import main

sys.exit(main())
