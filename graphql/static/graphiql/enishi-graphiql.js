// Starts GraphiQL on the page /graphql serves to a browser: strawberry's GraphiQL page, with its
// scripts served by Enishi itself (graphql/ide.py) so that it works without internet access.
// Differences from strawberry's: no js-cookie (Django's CSRF cookie does not exist here), no
// subscription URL (Enishi has no subscriptions), and the variables are not copied into the
// address bar, where they would stay in the browser's history (they may hold personal data).
(function () {
  "use strict";
  const EXAMPLE_QUERY = `# Welcome to Enishi's GraphiQL
#
# Send your API token in the Headers tab below:
#
#     {"Authorization": "Bearer <your token>"}
#
# Run a query with Ctrl-Enter; Ctrl-Space completes.
#
{
  contacts(first: 5) {
    totalCount
    edges { node { displayName } }
  }
}
`;

  const parameters = new URLSearchParams(window.location.search);

  function rememberQuery(query) {
    parameters.set("q", query);
    history.replaceState(null, "", "?" + parameters.toString());
  }

  const fetcher = GraphiQL.createFetcher({ url: window.location.href.split("?")[0] });

  function EnishiGraphiQL() {
    const [query, setQuery] = React.useState(parameters.get("q") || EXAMPLE_QUERY);
    const explorer = React.useMemo(() => GraphiQLPluginExplorer.explorerPlugin(), []);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
      query: query,
      onEditQuery: function (newQuery) {
        setQuery(newQuery);
        rememberQuery(newQuery);
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(EnishiGraphiQL));
})();
