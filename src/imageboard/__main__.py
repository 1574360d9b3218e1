from imageboard.cli import main

main()
