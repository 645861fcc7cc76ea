from sciregistry.cli import main

main()
