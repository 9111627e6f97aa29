from mlwatch.cli import main

main()
