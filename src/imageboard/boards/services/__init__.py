"""The boards service's use cases, one module per group: posting, deletion by the poster and
archive pruning, and reading pages. ``imageboard.boards.service.BoardsService`` assembles them."""
